# Terraform and provider versions. Write-only secret values (secret_string_wo) need AWS provider >= 5.90 and
# Terraform >= 1.11; ephemeral random passwords need the random provider >= 3.7. Neither reaches the state.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

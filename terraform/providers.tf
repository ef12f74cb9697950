provider "aws" {
  region = var.aws_region

  # Every resource carries these tags; the cleanup command (python -m machine_learning.deploy.cleanup) finds
  # leftovers by the same keys.
  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

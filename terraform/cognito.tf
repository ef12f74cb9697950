# Login in front of the three UIs (Mage, MLflow, Evidently): the load balancer authenticates every browser request
# with this Cognito user pool before it forwards it (alb.tf), on top of the ui_allowed_cidrs source-IP rule.
# Users are created by an administrator only (no self sign-up), with a strong password and TOTP MFA.
locals {
  cognito_domain = var.cognito_domain_prefix != "" ? var.cognito_domain_prefix : "${var.project}-${local.name}"
  ui_services    = toset(["mage", "mlflow", "evidently"])
}

resource "aws_cognito_user_pool" "ui" {
  name                     = "${local.name}-ui"
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = "ON"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  user_pool_add_ons {
    advanced_security_mode = "ENFORCED"
  }
}

resource "aws_cognito_user_pool_domain" "ui" {
  domain       = local.cognito_domain
  user_pool_id = aws_cognito_user_pool.ui.id
}

# One app client for the load balancer; it holds the client secret itself, so none passes through Terraform.
resource "aws_cognito_user_pool_client" "ui" {
  name                                 = "${local.name}-alb"
  user_pool_id                         = aws_cognito_user_pool.ui.id
  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = [for name in local.ui_services : "${local.public_url[name]}/oauth2/idpresponse"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = 1
  id_token_validity                    = 1
  refresh_token_validity               = 1

  token_validity_units {
    access_token  = "hours"
    id_token      = "hours"
    refresh_token = "days"
  }
}

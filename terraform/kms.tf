# One customer-managed key per environment for S3, RDS, Secrets Manager, ECR and CloudWatch Logs.
resource "aws_kms_key" "main" {
  description             = "${local.name}: data, database, secrets, images and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" is this key only, and the root statement is AWS's default delegation to IAM policies (without it the key becomes unmanageable)
  #checkov:skip=CKV_AWS_111:Key policy: "*" is this key only (default key policy delegating to IAM)
  #checkov:skip=CKV_AWS_356:Key policy: "*" is this key only (default key policy delegating to IAM)
  # Key administration stays with the account (IAM policies decide who); without this the key is unmanageable.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the log groups of this environment only.
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:/${var.project}/${local.name}/*",
        "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:aws-waf-logs-${local.name}",
      ]
    }
  }
}

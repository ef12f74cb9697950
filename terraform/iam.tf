# Least privilege, one pair of roles per ECS service:
# - the execution role lets ECS pull that service's image, write its log group and read its own secrets;
# - the task role is what the application may do: only its own S3 prefix, and for Mage, starting block tasks
#   through its ECS executor. The serving API loads models through MLflow; its only S3 access is its prediction
#   log (PREDICTION_LOG, on by default) under the title's prediction-log/ prefix.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

locals {
  # Secrets each service's containers receive (see ecs.tf); "db" is the RDS-managed master secret.
  service_secret_arns = {
    mage      = [aws_db_instance.main.master_user_secret[0].secret_arn, aws_secretsmanager_secret.app["mage-owner-password"].arn, aws_secretsmanager_secret.app["mage-jwt-secret"].arn, aws_secretsmanager_secret.app["mlflow-trainer-password"].arn]
    mlflow    = concat([aws_db_instance.main.master_user_secret[0].secret_arn], [for name in ["mlflow-admin-password", "mlflow-trainer-password", "mlflow-reader-password", "mlflow-flask-secret-key"] : aws_secretsmanager_secret.app[name].arn])
    evidently = [aws_secretsmanager_secret.app["evidently-secret"].arn]
    serving   = [aws_secretsmanager_secret.app["serving-token"].arn, aws_secretsmanager_secret.app["mlflow-reader-password"].arn]
  }

  # S3 key prefixes each service may read and write in the data bucket (none: no S3 access).
  service_s3_prefixes = {
    mage      = ["${var.game_title}/"]
    mlflow    = ["mlflow/"]
    evidently = ["${var.game_title}/evidently/"]
    serving   = ["${var.game_title}/prediction-log/"]
  }
}

# --- execution roles -------------------------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  for_each           = local.services
  name               = "${local.name}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.services

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action has no resource-level permissions
  }

  statement {
    sid       = "PullOwnImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.service[each.key].arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service[each.key].arn}:*"]
  }

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.service_secret_arns[each.key]
  }

  statement {
    sid       = "DecryptWithEnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.services
  name     = "pull-log-secrets"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}

# --- task roles ------------------------------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  for_each           = local.services
  name               = "${local.name}-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task_s3" {
  for_each = { for name, prefixes in local.service_s3_prefixes : name => prefixes if length(prefixes) > 0 }

  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for prefix in each.value : [prefix, "${prefix}*"]])
    }
  }

  statement {
    sid       = "ReadWriteOwnPrefix"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for prefix in each.value : "${aws_s3_bucket.data.arn}/${prefix}*"]
  }

  statement {
    sid       = "EncryptWithEnvironmentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "task_s3" {
  for_each = data.aws_iam_policy_document.task_s3
  name     = "data-bucket"
  role     = aws_iam_role.task[each.key].id
  policy   = each.value.json
}

# Mage's ECS executor runs a block as a one-off task of Mage's own task definition (same image, same secrets),
# with the command and size overridden. It reads the cluster, subnets and security groups from the task
# metadata endpoint and the network interface, waits for the task to stop and reads its exit code.
data "aws_iam_policy_document" "mage_ecs_executor" {
  statement {
    sid       = "RunBlockTasks"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task-definition/${local.name}-mage:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }

  statement {
    sid       = "FollowBlockTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"]
  }

  statement {
    sid       = "TagBlockTasks"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "ReadOwnNetworkInterface"
    actions   = ["ec2:DescribeNetworkInterfaces"]
    resources = ["*"] # Describe* actions have no resource-level permissions
  }

  statement {
    sid       = "PassMageRolesToBlockTasks"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution["mage"].arn, aws_iam_role.task["mage"].arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "mage_ecs_executor" {
  name   = "ecs-executor"
  role   = aws_iam_role.task["mage"].id
  policy = data.aws_iam_policy_document.mage_ecs_executor.json
}

# --- infrastructure roles --------------------------------------------------------------------------------------

resource "aws_iam_role" "flow_logs" {
  name = "${local.name}-flow-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "write-flow-logs"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow_logs.arn}:*"
    }]
  })
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${local.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

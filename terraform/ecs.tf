# ECS Fargate: one cluster, one task definition and one service per component, all in the private subnets.
resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

locals {
  db_secret = aws_db_instance.main.master_user_secret[0].secret_arn

  # Settings (machine_learning/settings.py) shared by the application containers. AWS_ENDPOINT_URL is empty on
  # purpose: it means "AWS itself" to the settings object (unset would mean the local stack's default).
  app_environment = {
    GAME_TITLE          = var.game_title
    S3_BUCKET           = aws_s3_bucket.data.bucket
    AWS_ENDPOINT_URL    = ""
    AWS_DEFAULT_REGION  = var.aws_region
    MLFLOW_TRACKING_URI = local.mlflow_internal_uri
    EVIDENTLY_WORKSPACE = "s3://${aws_s3_bucket.data.bucket}/${var.game_title}/evidently"
    EVIDENTLY_URL       = local.public_url.evidently
    MAGE_URL            = local.public_url.mage
    MODEL_CACHE_DIR     = "/tmp/model-cache"
  }

  database_environment = {
    DB_HOST    = aws_db_instance.main.address
    DB_PORT    = tostring(aws_db_instance.main.port)
    DB_SSLMODE = "require"
  }

  environment = {
    mage = merge(local.app_environment, local.database_environment, local.dask_client_environment, {
      DB_NAME                     = "mage"
      MLFLOW_TRACKING_USERNAME    = "mlops-trainer"
      DEFAULT_OWNER_EMAIL         = var.mage_owner_email
      REQUIRE_USER_AUTHENTICATION = "1"
      # Read by the ecs_config the Mage image adds to the project's metadata.yaml (docker/mage/ecs_config.yaml).
      MAGE_ECS_EXECUTOR_CPU     = tostring(var.mage_executor_cpu)
      MAGE_ECS_EXECUTOR_MEMORY  = tostring(var.mage_executor_memory)
      MAGE_ECS_EXECUTOR_TIMEOUT = tostring(var.mage_executor_timeout_seconds)
    })
    mlflow = merge(local.database_environment, {
      DB_NAME                      = "mlflow"
      AWS_DEFAULT_REGION           = var.aws_region
      MLFLOW_ARTIFACTS_DESTINATION = "s3://${aws_s3_bucket.data.bucket}/mlflow"
    })
    evidently = {
      AWS_DEFAULT_REGION  = var.aws_region
      EVIDENTLY_WORKSPACE = local.app_environment.EVIDENTLY_WORKSPACE
    }
    serving = merge(local.app_environment, {
      SERVING_PORT             = "8080"
      SERVING_HOST             = "0.0.0.0"
      MLFLOW_TRACKING_USERNAME = "mlops-reader"
    })
  }

  secrets = {
    mage = {
      DB_USER                  = "${local.db_secret}:username::"
      DB_PASSWORD              = "${local.db_secret}:password::"
      DEFAULT_OWNER_PASSWORD   = aws_secretsmanager_secret.app["mage-owner-password"].arn
      JWT_SECRET               = aws_secretsmanager_secret.app["mage-jwt-secret"].arn
      MLFLOW_TRACKING_PASSWORD = aws_secretsmanager_secret.app["mlflow-trainer-password"].arn
    }
    mlflow = {
      DB_USER                        = "${local.db_secret}:username::"
      DB_PASSWORD                    = "${local.db_secret}:password::"
      MLFLOW_ADMIN_PASSWORD          = aws_secretsmanager_secret.app["mlflow-admin-password"].arn
      MLFLOW_TRAINER_PASSWORD        = aws_secretsmanager_secret.app["mlflow-trainer-password"].arn
      MLFLOW_READER_PASSWORD         = aws_secretsmanager_secret.app["mlflow-reader-password"].arn
      MLFLOW_FLASK_SERVER_SECRET_KEY = aws_secretsmanager_secret.app["mlflow-flask-secret-key"].arn
    }
    evidently = {
      EVIDENTLY_SECRET = aws_secretsmanager_secret.app["evidently-secret"].arn
    }
    serving = {
      SERVING_TOKEN            = aws_secretsmanager_secret.app["serving-token"].arn
      MLFLOW_TRACKING_PASSWORD = aws_secretsmanager_secret.app["mlflow-reader-password"].arn
    }
  }

  # Mage writes into its project folder at run time (trigger sync, file versions); the others only need /tmp.
  read_only_root = { mage = false, mlflow = true, evidently = true, serving = true }
}

resource "aws_ecs_task_definition" "service" {
  #checkov:skip=CKV_AWS_336:Mage writes into its project folder at run time (trigger sync, file versions), so only the Mage container has a writable root; mlflow, evidently and serving are read-only
  for_each                 = local.services
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = "${aws_ecr_repository.service[each.key].repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = local.read_only_root[each.key]
    privileged             = false
    portMappings           = [{ containerPort = each.value.port, protocol = "tcp" }]
    environment            = [for name, value in local.environment[each.key] : { name = name, value = value }]
    secrets                = [for name, arn in local.secrets[each.key] : { name = name, valueFrom = arn }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters        = { initProcessEnabled = true }
    healthCheck = {
      # The images have no curl; the same probe is the Dockerfile's HEALTHCHECK (docker/healthcheck.py).
      command     = ["CMD", "python", "/opt/deploy/healthcheck.py", "http://127.0.0.1:${each.value.port}${each.value.health_path}"]
      interval    = 30
      timeout     = 10
      retries     = 5
      startPeriod = each.key == "mage" ? 180 : 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "service" {
  for_each                          = local.services
  name                              = each.key
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.service[each.key].arn
  desired_count                     = each.value.count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  enable_execute_command            = false
  health_check_grace_period_seconds = each.key == "mage" ? 300 : 120

  # Mage runs the scheduler: never two at once, so stop the old task before starting the new one.
  deployment_minimum_healthy_percent = each.key == "mage" ? 0 : 100
  deployment_maximum_percent         = each.key == "mage" ? 100 : 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.task[each.key].id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.service[each.key].arn
    container_name   = each.key
    container_port   = each.value.port
  }

  dynamic "service_registries" {
    for_each = each.key == "mlflow" ? [aws_service_discovery_service.mlflow.arn] : []
    content {
      registry_arn = service_registries.value
    }
  }

  # The serving API's task count belongs to its autoscaling policy (autoscaling.tf).
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener_rule.service, aws_iam_role_policy.execution]
}

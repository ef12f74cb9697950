# Dask for scale-out batch scoring (SCORING_ENGINE=dask, machine_learning/scale/): one scheduler service and an
# autoscaled worker service on Fargate, both running the Mage image (docker/mage/Dockerfile: the same locked
# packages, `distributed` included, and the machine_learning package).
# - The scheduler (port 8786) accepts connections only from Mage's and the workers' security groups; its dashboard
#   (8787) only from the load balancer, behind the same host-name and ui_allowed_cidrs rule as MLflow and Evidently.
# - Workers (8788) accept connections only from the scheduler, each other and Mage (results are
#   fetched from workers). They read and write the title's batch, prediction, monitoring and label prefixes only,
#   and reach MLflow to fill their model cache.
# - Mage finds the scheduler by its private name (Cloud Map), given to it as DASK_SCHEDULER_ADDRESS.

locals {
  dask_scheduler_port = 8786
  dask_dashboard_port = 8787
  dask_worker_port    = 8788
  dask_worker_http    = 8790 # worker's own /health, for the container health check only
  dask_host           = "dask.${var.domain_name}"
  dask_scheduler_uri  = "tcp://dask-scheduler.${aws_service_discovery_private_dns_namespace.internal.name}:${local.dask_scheduler_port}"

  dask_services = {
    scheduler = {
      cpu     = var.dask_scheduler_cpu
      memory  = var.dask_scheduler_memory
      command = ["dask", "scheduler", "--host", "0.0.0.0", "--port", tostring(local.dask_scheduler_port), "--dashboard-address", ":${local.dask_dashboard_port}"]
      health  = "http://127.0.0.1:${local.dask_dashboard_port}/health"
    }
    worker = {
      cpu    = var.dask_worker_cpu
      memory = var.dask_worker_memory
      # One single-threaded worker per task: scoring is one chunk at a time per worker (machine_learning/scale/work.py).
      # No nanny: ECS replaces a dead task, and the nanny would export MALLOC_TRIM_THRESHOLD_, which doubled the
      # CPU time of validation (machine_learning/scale/cluster.py).
      command = ["dask", "worker", local.dask_scheduler_uri, "--no-nanny", "--nthreads", "1", "--worker-port", tostring(local.dask_worker_port), "--dashboard-address", ":${local.dask_worker_http}", "--memory-limit", "auto", "--local-directory", "/tmp/dask"]
      health  = "http://127.0.0.1:${local.dask_worker_http}/health"
    }
  }

  # What Mage (the Dask client) and the workers need to score: the settings of the application containers.
  dask_client_environment = {
    SCORING_ENGINE         = var.scoring_engine
    DASK_SCHEDULER_ADDRESS = var.scoring_engine == "dask" ? local.dask_scheduler_uri : ""
  }
  dask_worker_prefixes = [for folder in ["batches", "predictions", "monitoring/current", "labels"] : "${var.game_title}/${folder}/"]
}

resource "aws_cloudwatch_log_group" "dask" {
  for_each          = local.dask_services
  name              = "/${var.project}/${local.name}/dask-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# --- roles -----------------------------------------------------------------------------------------------------

resource "aws_iam_role" "dask_execution" {
  for_each           = local.dask_services
  name               = "${local.name}-dask-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "dask_execution" {
  for_each = local.dask_services

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action has no resource-level permissions
  }

  statement {
    sid       = "PullMageImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.service["mage"].arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.dask[each.key].arn}:*"]
  }

  statement {
    sid       = "DecryptWithEnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "dask_execution" {
  for_each = local.dask_services
  name     = "pull-log"
  role     = aws_iam_role.dask_execution[each.key].id
  policy   = data.aws_iam_policy_document.dask_execution[each.key].json
}

# The scheduler's task role has no policy: it touches no AWS API.
resource "aws_iam_role" "dask_task" {
  for_each           = local.dask_services
  name               = "${local.name}-dask-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "dask_worker_s3" {
  statement {
    sid       = "ListTitlePrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for prefix in local.dask_worker_prefixes : [prefix, "${prefix}*"]])
    }
  }

  statement {
    sid       = "ReadWriteTitlePrefixes"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for prefix in local.dask_worker_prefixes : "${aws_s3_bucket.data.arn}/${prefix}*"]
  }

  statement {
    sid       = "EncryptWithEnvironmentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "dask_worker_s3" {
  name   = "data-bucket"
  role   = aws_iam_role.dask_task["worker"].id
  policy = data.aws_iam_policy_document.dask_worker_s3.json
}

# --- tasks and services ----------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "dask" {
  for_each                 = local.dask_services
  family                   = "${local.name}-dask-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.dask_execution[each.key].arn
  task_role_arn            = aws_iam_role.dask_task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "dask-${each.key}"
    image                  = "${aws_ecr_repository.service["mage"].repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    command                = each.value.command
    portMappings = [for port in(each.key == "scheduler" ? [local.dask_scheduler_port, local.dask_dashboard_port] : [local.dask_worker_port]) :
    { containerPort = port, protocol = "tcp" }]
    environment     = [for name, value in merge(local.app_environment, local.dask_client_environment) : { name = name, value = value }]
    mountPoints     = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters = { initProcessEnabled = true }
    healthCheck = {
      command     = ["CMD", "python", "/opt/deploy/healthcheck.py", each.value.health]
      interval    = 30
      timeout     = 10
      retries     = 5
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.dask[each.key].name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "dask-${each.key}"
      }
    }
  }])
}

resource "aws_service_discovery_service" "dask_scheduler" {
  name = "dask-scheduler"

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.internal.id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_ecs_service" "dask_scheduler" {
  name                              = "dask-scheduler"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.dask["scheduler"].arn
  desired_count                     = 1
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  enable_execute_command            = false
  health_check_grace_period_seconds = 120

  # One scheduler: stop the old one before the new one starts (workers reconnect to the new one).
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.dask["scheduler"].id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.dask_dashboard.arn
    container_name   = "dask-scheduler"
    container_port   = local.dask_dashboard_port
  }

  service_registries {
    registry_arn = aws_service_discovery_service.dask_scheduler.arn
  }

  depends_on = [aws_lb_listener_rule.dask_dashboard, aws_iam_role_policy.dask_execution]
}

resource "aws_ecs_service" "dask_worker" {
  name                    = "dask-worker"
  cluster                 = aws_ecs_cluster.main.id
  task_definition         = aws_ecs_task_definition.dask["worker"].arn
  desired_count           = var.dask_worker_min_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
  enable_execute_command  = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.dask["worker"].id]
    assign_public_ip = false
  }

  # The task count belongs to the autoscaling policy below.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_ecs_service.dask_scheduler, aws_iam_role_policy.dask_execution]
}

resource "aws_appautoscaling_target" "dask_worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.dask_worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.dask_worker_min_count
  max_capacity       = var.dask_worker_max_count
}

resource "aws_appautoscaling_policy" "dask_worker_cpu" {
  name               = "${local.name}-dask-worker-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.dask_worker.service_namespace
  resource_id        = aws_appautoscaling_target.dask_worker.resource_id
  scalable_dimension = aws_appautoscaling_target.dask_worker.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.dask_worker_target_cpu_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# --- dashboard behind the load balancer ------------------------------------------------------------------------

resource "aws_lb_target_group" "dask_dashboard" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the scheduler is a private task reachable only from its security group
  name        = "${local.name}-dask"
  port        = local.dask_dashboard_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.main.id

  deregistration_delay = 30

  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 30
    healthy_threshold   = 2
    unhealthy_threshold = 5
    timeout             = 10
  }
}

# The dashboard has no login of its own: like MLflow and Evidently, only from ui_allowed_cidrs.
resource "aws_lb_listener_rule" "dask_dashboard" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 40

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.dask_dashboard.arn
  }

  condition {
    host_header {
      values = [local.dask_host]
    }
  }

  condition {
    source_ip {
      values = var.ui_allowed_cidrs
    }
  }
}

resource "aws_route53_record" "dask" {
  count   = var.route53_zone_id == "" ? 0 : 1
  zone_id = var.route53_zone_id
  name    = local.dask_host
  type    = "A"

  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}

# --- security groups -------------------------------------------------------------------------------------------

resource "aws_security_group" "dask" {
  for_each    = local.dask_services
  name        = "${local.name}-dask-${each.key}"
  description = "Dask ${each.key} tasks: only from Mage, the Dask tasks and (dashboard) the load balancer"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-dask-${each.key}" }
}

locals {
  # Who may open connections to what: the scheduler port from Mage and the workers; the worker port from the
  # scheduler, the other workers and Mage.
  dask_paths = {
    mage_to_scheduler   = { from = aws_security_group.task["mage"].id, to = aws_security_group.dask["scheduler"].id, low = local.dask_scheduler_port, high = local.dask_scheduler_port }
    worker_to_scheduler = { from = aws_security_group.dask["worker"].id, to = aws_security_group.dask["scheduler"].id, low = local.dask_scheduler_port, high = local.dask_scheduler_port }
    scheduler_to_worker = { from = aws_security_group.dask["scheduler"].id, to = aws_security_group.dask["worker"].id, low = local.dask_worker_port, high = local.dask_worker_port }
    worker_to_worker    = { from = aws_security_group.dask["worker"].id, to = aws_security_group.dask["worker"].id, low = local.dask_worker_port, high = local.dask_worker_port }
    mage_to_worker      = { from = aws_security_group.task["mage"].id, to = aws_security_group.dask["worker"].id, low = local.dask_worker_port, high = local.dask_worker_port }
    alb_to_dashboard    = { from = aws_security_group.alb.id, to = aws_security_group.dask["scheduler"].id, low = local.dask_dashboard_port, high = local.dask_dashboard_port }
    worker_to_mlflow    = { from = aws_security_group.dask["worker"].id, to = aws_security_group.task["mlflow"].id, low = local.services.mlflow.port, high = local.services.mlflow.port }
  }
}

resource "aws_vpc_security_group_ingress_rule" "dask" {
  for_each                     = local.dask_paths
  security_group_id            = each.value.to
  description                  = "Dask: ${replace(each.key, "_", " ")}"
  referenced_security_group_id = each.value.from
  ip_protocol                  = "tcp"
  from_port                    = each.value.low
  to_port                      = each.value.high
}

resource "aws_vpc_security_group_egress_rule" "dask" {
  for_each                     = local.dask_paths
  security_group_id            = each.value.from
  description                  = "Dask: ${replace(each.key, "_", " ")}"
  referenced_security_group_id = each.value.to
  ip_protocol                  = "tcp"
  from_port                    = each.value.low
  to_port                      = each.value.high
}

# Images, logs and (workers) S3 over HTTPS; DNS for the Cloud Map names.
resource "aws_vpc_security_group_egress_rule" "dask_https" {
  for_each          = local.dask_services
  security_group_id = aws_security_group.dask[each.key].id
  description       = "HTTPS to AWS APIs (S3, ECR, CloudWatch)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "dask_dns" {
  for_each          = local.dask_services
  security_group_id = aws_security_group.dask[each.key].id
  description       = "DNS to the VPC resolver"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "udp"
  from_port         = 53
  to_port           = 53
}

locals {
  # Short prefix of every name: "<game title>-<environment>", e.g. "demo-game-dev".
  name       = "${var.game_title}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = var.availability_zones
  az_count   = length(var.availability_zones)

  tags = merge(var.extra_tags, {
    Project     = var.project
    GameTitle   = var.game_title
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # One entry per ECS service. Ports and health paths match scripts/stack.py and docker/*/Dockerfile.
  services = {
    mage = {
      port         = 6789
      health_path  = "/api/status"
      host         = "mage.${var.domain_name}"
      cpu          = var.mage_cpu
      memory       = var.mage_memory
      count        = 1
      public_cidrs = var.ui_allowed_cidrs
    }
    mlflow = {
      port         = 5000
      health_path  = "/health"
      host         = "mlflow.${var.domain_name}"
      cpu          = var.mlflow_cpu
      memory       = var.mlflow_memory
      count        = 1
      public_cidrs = var.ui_allowed_cidrs
    }
    evidently = {
      port         = 8001
      health_path  = "/api/version"
      host         = "evidently.${var.domain_name}"
      cpu          = var.evidently_cpu
      memory       = var.evidently_memory
      count        = 1
      public_cidrs = var.ui_allowed_cidrs
    }
    serving = {
      port = 8080
      # /health answers 503 until a model is in production; the OpenAPI schema means "the process is up".
      health_path  = "/openapi.json"
      host         = "api.${var.domain_name}"
      cpu          = var.serving_cpu
      memory       = var.serving_memory
      count        = var.serving_min_count
      public_cidrs = var.serving_allowed_cidrs
    }
  }

  # Private DNS name of MLflow inside the VPC (Cloud Map); Mage, serving and the ECS executor tasks use it.
  mlflow_internal_uri = "http://mlflow.${aws_service_discovery_private_dns_namespace.internal.name}:5000"
  public_url          = { for name, service in local.services : name => "https://${service.host}" }
}

# Public DNS (optional) and the private Cloud Map namespace the tasks use to find MLflow.
resource "aws_route53_record" "service" {
  for_each = var.route53_zone_id == "" ? {} : local.services
  zone_id  = var.route53_zone_id
  name     = each.value.host
  type     = "A"

  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}

resource "aws_service_discovery_private_dns_namespace" "internal" {
  name        = "${local.name}.internal"
  description = "Private names of the ${local.name} services"
  vpc         = aws_vpc.main.id
}

resource "aws_service_discovery_service" "mlflow" {
  name = "mlflow"

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

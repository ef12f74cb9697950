# Application load balancer in the public subnets: HTTPS only (HTTP redirects), one host name per component.
# Every route requires a source IP from its CIDR list. The three UIs (Mage, MLflow, Evidently) also require a
# Cognito login (cognito.tf) before anything is forwarded, on top of their own credentials (Mage's owner login,
# MLflow's basic auth, Evidently's write secret). Machine endpoints that carry their own token (Mage's API
# triggers and /api/runs) skip the browser login but keep the CIDR rule; the serving API needs its token.
resource "aws_lb" "main" {
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 120 # Mage's UI keeps long requests open

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "service" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; targets are tasks in private subnets reachable only from its security group
  for_each    = local.services
  name        = "${local.name}-${each.key}"
  port        = each.value.port
  protocol    = "HTTP" # TLS ends at the load balancer; targets are private tasks in the VPC
  target_type = "ip"
  vpc_id      = aws_vpc.main.id

  deregistration_delay = 30

  health_check {
    path                = each.value.health_path
    matcher             = "200"
    interval            = 30
    healthy_threshold   = 2
    unhealthy_threshold = 5
    timeout             = 10
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener_rule" "service" {
  for_each     = local.services
  listener_arn = aws_lb_listener.https.arn
  priority     = 10 + index(keys(local.services), each.key)

  dynamic "action" {
    for_each = contains(local.ui_services, each.key) ? [1] : []
    content {
      type = "authenticate-cognito"
      authenticate_cognito {
        user_pool_arn              = aws_cognito_user_pool.ui.arn
        user_pool_client_id        = aws_cognito_user_pool_client.ui.id
        user_pool_domain           = aws_cognito_user_pool_domain.ui.domain
        on_unauthenticated_request = "authenticate"
        session_timeout            = var.ui_session_timeout_seconds
        scope                      = "openid email"
      }
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }

  condition {
    host_header {
      values = [each.value.host]
    }
  }

  condition {
    source_ip {
      values = each.value.public_cidrs
    }
  }
}

# Mage's token-protected machine endpoints (API triggers started by the monitoring pipeline and by clients,
# and the patched /api/runs): no browser login, same CIDR rule. Evaluated before the Mage UI rule.
resource "aws_lb_listener_rule" "mage_triggers" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 5

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["mage"].arn
  }

  condition {
    host_header {
      values = [local.services.mage.host]
    }
  }

  condition {
    path_pattern {
      values = ["/api/pipeline_schedules/*/pipeline_runs/*", "/api/runs"]
    }
  }

  condition {
    source_ip {
      values = local.services.mage.public_cidrs
    }
  }
}

# One security group per component. Only the load balancer accepts traffic from outside the VPC, and only from
# the configured CIDR blocks; each task accepts its own port from the load balancer (and MLflow from the tasks
# that use it); the database accepts PostgreSQL from Mage and MLflow only.

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Load balancer: HTTPS (and HTTP redirected to HTTPS) from the allowed CIDR blocks"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(distinct(concat(var.ui_allowed_cidrs, var.serving_allowed_cidrs)))
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each          = toset(distinct(concat(var.ui_allowed_cidrs, var.serving_allowed_cidrs)))
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from ${each.value}, answered with a redirect to HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  for_each                     = local.services
  security_group_id            = aws_security_group.alb.id
  description                  = "To the ${each.key} tasks"
  referenced_security_group_id = aws_security_group.task[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_security_group" "task" {
  for_each    = local.services
  name        = "${local.name}-${each.key}"
  description = "${each.key} tasks: port ${each.value.port} from the load balancer"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-${each.key}" }
}

resource "aws_vpc_security_group_ingress_rule" "task_from_alb" {
  for_each                     = local.services
  security_group_id            = aws_security_group.task[each.key].id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

# Tasks reach AWS APIs, and ECR over HTTPS through the NAT gateway or the S3 endpoint.
resource "aws_vpc_security_group_egress_rule" "task_https" {
  for_each          = local.services
  security_group_id = aws_security_group.task[each.key].id
  description       = "HTTPS to AWS APIs (S3, ECR, Secrets Manager, CloudWatch, ECS)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

locals {
  mlflow_clients = ["mage", "serving", "evidently"]
  db_clients     = ["mage", "mlflow"]
}

resource "aws_vpc_security_group_ingress_rule" "mlflow_from_clients" {
  for_each                     = toset(local.mlflow_clients)
  security_group_id            = aws_security_group.task["mlflow"].id
  description                  = "MLflow API from ${each.key}"
  referenced_security_group_id = aws_security_group.task[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = local.services.mlflow.port
  to_port                      = local.services.mlflow.port
}

resource "aws_vpc_security_group_egress_rule" "clients_to_mlflow" {
  for_each                     = toset(local.mlflow_clients)
  security_group_id            = aws_security_group.task[each.key].id
  description                  = "To the MLflow API"
  referenced_security_group_id = aws_security_group.task["mlflow"].id
  ip_protocol                  = "tcp"
  from_port                    = local.services.mlflow.port
  to_port                      = local.services.mlflow.port
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "PostgreSQL from the Mage and MLflow tasks"
  vpc_id      = aws_vpc.main.id
  tags        = { Name = "${local.name}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_clients" {
  for_each                     = toset(local.db_clients)
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key}"
  referenced_security_group_id = aws_security_group.task[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "clients_to_db" {
  for_each                     = toset(local.db_clients)
  security_group_id            = aws_security_group.task[each.key].id
  description                  = "To PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# DNS inside the VPC (Cloud Map names such as mlflow.<namespace>) goes to the VPC resolver at base+2.
resource "aws_vpc_security_group_egress_rule" "task_dns" {
  for_each          = local.services
  security_group_id = aws_security_group.task[each.key].id
  description       = "DNS to the VPC resolver"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "udp"
  from_port         = 53
  to_port           = 53
}

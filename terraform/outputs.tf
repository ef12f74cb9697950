output "urls" {
  description = "Public HTTPS address of each component (point DNS at load_balancer_dns_name if route53_zone_id is empty)."
  value       = local.public_url
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer, for CNAME or alias records of the four hosts."
  value       = aws_lb.main.dns_name
}

output "ecr_repositories" {
  description = "ECR repository URL of each image; push <url>:<image_tag> before applying a new image_tag."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.repository_url }
}

output "data_bucket" {
  description = "S3 bucket holding the data, MLflow artifacts and the Evidently workspace (S3_BUCKET)."
  value       = aws_s3_bucket.data.bucket
}

output "ecs_cluster" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "database_endpoint" {
  description = "Private address of the PostgreSQL instance (databases mage and mlflow)."
  value       = aws_db_instance.main.address
}

output "secret_arns" {
  description = "Secrets Manager ARNs: application secrets and the RDS-managed master password."
  value = merge(
    { for name, secret in aws_secretsmanager_secret.app : name => secret.arn },
    { database = aws_db_instance.main.master_user_secret[0].secret_arn },
  )
}

output "log_groups" {
  description = "CloudWatch log group of each component."
  value       = { for name, group in aws_cloudwatch_log_group.service : name => group.name }
}

# Production environment. Replace the example values (RFC 5737 documentation ranges, example.com) with yours.
game_title         = "demo-game"
environment        = "prod"
aws_region         = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

domain_name     = "mlops.example.com"
certificate_arn = "arn:aws:acm:eu-west-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
route53_zone_id = ""

ui_allowed_cidrs      = ["203.0.113.0/24"]
serving_allowed_cidrs = ["198.51.100.0/24"]

image_tag = "set-by-the-build"

single_nat_gateway       = false
db_multi_az              = true
db_instance_class        = "db.t4g.medium"
db_backup_retention_days = 30
deletion_protection      = true
serving_min_count        = 2
serving_max_count        = 10
mage_cpu                 = 2048
mage_memory              = 8192

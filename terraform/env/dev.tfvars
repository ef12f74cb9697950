# Development environment. Replace the example values (RFC 5737 documentation ranges, example.com) with yours.
game_title         = "demo-game"
environment        = "dev"
aws_region         = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b"]

domain_name     = "dev.mlops.example.com"
certificate_arn = "arn:aws:acm:eu-west-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
route53_zone_id = ""

ui_allowed_cidrs      = ["203.0.113.0/24"]  # office / VPN
serving_allowed_cidrs = ["198.51.100.0/24"] # game servers

image_tag = "set-by-the-build" # git SHA pushed by the build: -var image_tag=$(git rev-parse --short HEAD)

# Cheaper and easy to tear down.
single_nat_gateway  = true
db_multi_az         = false
db_instance_class   = "db.t4g.micro"
deletion_protection = false
serving_min_count   = 1
serving_max_count   = 3
log_retention_days  = 365

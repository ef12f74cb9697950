# Every input of the deployment. Per-environment values live in env/<environment>.tfvars; nothing here is a secret
# (passwords are generated into Secrets Manager, see secrets.tf and rds.tf).

variable "project" {
  description = "Project name, used in the Project tag of every resource."
  type        = string
  default     = "engagement-mlops"
}

variable "game_title" {
  description = "Game title served by this deployment (GAME_TITLE of the settings); names resources and the GameTitle tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,18}[a-z0-9]$", var.game_title))
    error_message = "game_title must be 3-20 lowercase letters, digits or dashes (it prefixes names limited to 32 characters)."
  }
}

variable "environment" {
  description = "Deployment environment (dev, staging or prod); names resources and the Environment tag."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "extra_tags" {
  description = "Additional tags for every resource (e.g. cost centre); the four standard tags always win."
  type        = map(string)
  default     = {}
}

# --- network -------------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into one public and one private /20 subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones to use, named explicitly (e.g. [\"eu-west-1a\", \"eu-west-1b\"]) so the layout never shifts when AWS adds a zone; 2 or 3."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3
    error_message = "Name 2 or 3 availability zones (the load balancer and the database subnet group need 2)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper, dev) instead of one per availability zone (prod)."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs in CloudWatch."
  type        = number
  default     = 365
}

# --- load balancer and DNS -----------------------------------------------------------------------------------

variable "domain_name" {
  description = "Domain under which the services are published: mage., mlflow., evidently. and api.<domain_name>."
  type        = string
}

variable "certificate_arn" {
  description = "ARN of an ACM certificate in aws_region covering *.<domain_name> (create and validate it beforehand)."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name; when set, alias records for the four hosts are created. Empty: manage DNS yourself."
  type        = string
  default     = ""
}

variable "ui_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the Mage, MLflow and Evidently UIs through the load balancer (office, VPN)."
  type        = list(string)
}

variable "serving_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the serving API (game servers); requests also need the X-API-Token."
  type        = list(string)
}

variable "deletion_protection" {
  description = "Protect the load balancer and the database from deletion (turn off only to tear an environment down)."
  type        = bool
  default     = true
}

# --- images and tasks ----------------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the four images in ECR to deploy (the git commit SHA pushed by the build; tags are immutable)."
  type        = string
}

variable "mage_cpu" {
  description = "CPU units of the Mage task (1024 = 1 vCPU); also the default size of ECS-executor block tasks."
  type        = number
  default     = 1024
}

variable "mage_memory" {
  description = "Memory (MiB) of the Mage task."
  type        = number
  default     = 4096
}

variable "mage_executor_cpu" {
  description = "CPU units of a block run by Mage's ECS executor (blocks with executor_type: ecs)."
  type        = number
  default     = 2048
}

variable "mage_executor_memory" {
  description = "Memory (MiB) of a block run by Mage's ECS executor; must be a valid Fargate pairing with mage_executor_cpu."
  type        = number
  default     = 8192
}

variable "mage_executor_timeout_seconds" {
  description = "How long Mage waits for an ECS-executor block task before failing the block."
  type        = number
  default     = 3600
}

variable "mage_owner_email" {
  description = "Email of the Mage owner account (DEFAULT_OWNER_EMAIL); its password is generated into Secrets Manager."
  type        = string
  default     = "owner@mlops.local"
}

variable "mlflow_cpu" {
  description = "CPU units of the MLflow server task."
  type        = number
  default     = 512
}

variable "mlflow_memory" {
  description = "Memory (MiB) of the MLflow server task."
  type        = number
  default     = 1024
}

variable "evidently_cpu" {
  description = "CPU units of the Evidently UI task."
  type        = number
  default     = 256
}

variable "evidently_memory" {
  description = "Memory (MiB) of the Evidently UI task."
  type        = number
  default     = 1024
}

variable "serving_cpu" {
  description = "CPU units of one serving API task."
  type        = number
  default     = 512
}

variable "serving_memory" {
  description = "Memory (MiB) of one serving API task."
  type        = number
  default     = 1024
}

variable "serving_min_count" {
  description = "Minimum (and initial) number of serving API tasks."
  type        = number
  default     = 2
}

variable "serving_max_count" {
  description = "Maximum number of serving API tasks the CPU autoscaling may start."
  type        = number
  default     = 6
}

variable "serving_target_cpu_percent" {
  description = "Average CPU utilisation the serving autoscaling keeps the service at."
  type        = number
  default     = 60
}

variable "log_retention_days" {
  description = "Days to keep container logs and WAF logs in CloudWatch."
  type        = number
  default     = 365
}

# --- database ------------------------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database shared by Mage and MLflow (one database each)."
  type        = string
  default     = "db.t4g.small"
}

variable "db_engine_version" {
  description = "PostgreSQL major version; minor versions are upgraded automatically in the maintenance window."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Initial storage of the database (GiB); grows automatically up to db_max_allocated_storage_gb."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound of the database's storage autoscaling (GiB)."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run the database with a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1
    error_message = "Backups must stay on: db_backup_retention_days must be at least 1."
  }
}

# --- data bucket ---------------------------------------------------------------------------------------------

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept in the data bucket before it expires."
  type        = number
  default     = 90
}

variable "online_results_retention_days" {
  description = "Days stored online-inference results (<title>/online/) are kept."
  type        = number
  default     = 180
}

variable "predictions_infrequent_access_days" {
  description = "Days after which batch predictions (<title>/predictions/) move to the Standard-IA storage class."
  type        = number
  default     = 30
}

variable "access_log_retention_days" {
  description = "Days to keep load balancer and S3 access logs in the log bucket."
  type        = number
  default     = 365
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted login domain of the UIs (<prefix>.auth.<region>.amazoncognito.com), unique per region. Empty: <project>-<game_title>-<environment>."
  type        = string
  default     = ""
}

variable "ui_session_timeout_seconds" {
  description = "How long the load balancer's login session for the UIs lasts before Cognito is asked again."
  type        = number
  default     = 28800
}

variable "scoring_engine" {
  description = "SCORING_ENGINE of Mage's batch scoring and retraining data: local (in the Mage task) or dask (on the Dask services of dask.tf)."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "dask"], var.scoring_engine)
    error_message = "scoring_engine must be local or dask."
  }
}

variable "dask_scheduler_cpu" {
  description = "CPU units of the Dask scheduler task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "dask_scheduler_memory" {
  description = "Memory (MiB) of the Dask scheduler task."
  type        = number
  default     = 1024
}

variable "dask_worker_cpu" {
  description = "CPU units of one Dask worker task (one single-threaded worker per task)."
  type        = number
  default     = 1024
}

variable "dask_worker_memory" {
  description = "Memory (MiB) of one Dask worker task; a worker holds about one chunk (250,000 rows, ~0.7 GB peak)."
  type        = number
  default     = 2048
}

variable "dask_worker_min_count" {
  description = "Minimum (and initial) number of Dask worker tasks."
  type        = number
  default     = 1
}

variable "dask_worker_max_count" {
  description = "Maximum number of Dask worker tasks the CPU autoscaling may start."
  type        = number
  default     = 8
}

variable "dask_worker_target_cpu_percent" {
  description = "Average CPU of the Dask workers that the autoscaling keeps (percent)."
  type        = number
  default     = 70
}

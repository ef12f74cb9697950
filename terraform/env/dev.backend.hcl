# Remote state of the dev environment: terraform init -reconfigure -backend-config=env/dev.backend.hcl
# The bucket is created once, outside this configuration (README, "Deploy to AWS").
bucket = "CHANGE-ME-terraform-state"
key    = "engagement-mlops/demo-game/dev.tfstate"
region = "eu-west-1"

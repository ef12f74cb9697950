# Remote state of the prod environment: terraform init -reconfigure -backend-config=env/prod.backend.hcl
# The bucket is created once, outside this configuration (README, "Deploy to AWS").
bucket = "CHANGE-ME-terraform-state"
key    = "engagement-mlops/demo-game/prod.tfstate"
region = "eu-west-1"

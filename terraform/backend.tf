# Remote state in S3 with native lock files. Partial configuration: the bucket, key and region come from
# env/<environment>.backend.hcl, so one code base serves every environment:
#   terraform init -backend-config=env/dev.backend.hcl
terraform {
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

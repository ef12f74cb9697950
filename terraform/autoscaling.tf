# The serving API scales on average CPU between serving_min_count and serving_max_count tasks.
resource "aws_appautoscaling_target" "serving" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.service["serving"].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.serving_min_count
  max_capacity       = var.serving_max_count
}

resource "aws_appautoscaling_policy" "serving_cpu" {
  name               = "${local.name}-serving-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.serving.service_namespace
  resource_id        = aws_appautoscaling_target.serving.resource_id
  scalable_dimension = aws_appautoscaling_target.serving.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.serving_target_cpu_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

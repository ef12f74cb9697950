from machine_learning.inference.online import answer_online_request

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def score_online(*args, **kwargs):
    """Score the request's players (variable inputs) with the production model; store the result in S3."""
    return answer_online_request(
        kwargs.get("inputs"),
        request_id=kwargs.get("request_id"),
        pipeline_run_id=kwargs.get("pipeline_run_id"),
        run_variables=kwargs,  # checked: a request chooses players, an id and the title, nothing else
    )

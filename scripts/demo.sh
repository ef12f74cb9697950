#!/usr/bin/env bash
# The demo: the shipped dataset through data_preparation -> training -> model_selection, run by the Mage server
# through each pipeline's API trigger, so every run is visible in the Mage UI with its logs.
# Called by `make demo` with the stack's environment loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
MLOPS=.local/venv-app/bin/mlops
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false PYTHONWARNINGS=ignore
DATA=${DEMO_DATA:-data/online_gaming_behavior_dataset.csv.gz}
started=$SECONDS

echo "== uploading $DATA to S3"
uri=$("$MLOPS" upload --input "$DATA")
echo "   $uri"
echo "== running the pipelines in Mage"
"$MLOPS" run-pipeline data_preparation --variables "{\"input_uri\": \"$uri\"}"
"$MLOPS" run-pipeline training
"$MLOPS" run-pipeline model_selection
echo "== models"
"$MLOPS" status
today=$(date -u +%Y-%m-%d)
echo "== scoring today's batch ($today) with the production model, in Mage"
"$MLOPS" upload --date "$today" --input "$DATA" | sed 's/^/   /'
"$MLOPS" run-pipeline batch_inference --variables "{\"batch_date\": \"$today\"}"
"$MLOPS" predictions --date "$today" --limit 5
echo "== the same model over HTTP (serving API), one player"
"$MLOPS" serving-check --url "http://127.0.0.1:${SERVING_PORT:-8080}"
cat <<MSG
== done in $((SECONDS - started))s. Look around:
   Mage     ${MAGE_URL:-http://127.0.0.1:6789}   runs of the three pipelines (login $DEFAULT_OWNER_EMAIL; password: DEFAULT_OWNER_PASSWORD in .local/stack/stack.env)
   MLflow   $MLFLOW_TRACKING_URI   experiment and registered model "${GAME_TITLE:-demo-game}-engagement"
   Serving  http://127.0.0.1:${SERVING_PORT:-8080}/docs   the production model over HTTP (token: SERVING_TOKEN in .local/stack/stack.env)
   S3       $AWS_ENDPOINT_URL   bucket $S3_BUCKET (credentials in .local/stack/stack.env)
   Stop everything with: make down
MSG

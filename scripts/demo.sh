#!/usr/bin/env bash
# The demo: the shipped dataset through data_preparation -> training -> model_selection, run by Mage.
# Called by `make demo` with the stack's environment loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.local/venv-app/bin
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false PYTHONWARNINGS=ignore
DATA=${DEMO_DATA:-data/online_gaming_behavior_dataset.csv.gz}
LOGS=.local/stack/logs
started=$SECONDS

run_pipeline() {  # run one Mage pipeline, keep its log, stop the demo with the log's tail on failure
  local name=$1 vars=$2 log=$LOGS/demo-$1.log t0=$SECONDS
  printf '%-18s' "$name"
  if ! "$BIN/mage" run mage_project "$name" --test --runtime-vars "$vars" >"$log" 2>&1; then
    echo "FAILED - last lines of $log:"; grep -v -i warn "$log" | tail -20; exit 1
  fi
  echo "ok ($((SECONDS - t0))s)"
}

echo "== uploading $DATA to S3"
uri=$("$BIN/mlops" upload --input "$DATA")
echo "   $uri"
echo "== running the pipelines through Mage (logs in $LOGS/demo-*.log)"
run_pipeline data_preparation "{\"input_uri\": \"$uri\"}"
run_pipeline training '{}'
run_pipeline model_selection '{}'
grep -h "candidate v" "$LOGS/demo-model_selection.log" | tail -1 | sed 's/^/   /'
echo "== models"
"$BIN/mlops" status
cat <<MSG
== done in $((SECONDS - started))s. Look around:
   Mage     http://127.0.0.1:${MAGE_PORT:-6789}   (login $DEFAULT_OWNER_EMAIL; password: DEFAULT_OWNER_PASSWORD in .local/stack/stack.env)
   MLflow   $MLFLOW_TRACKING_URI   (experiment and registered model "${GAME_TITLE:-demo-game}-engagement")
   S3       $AWS_ENDPOINT_URL   (bucket $S3_BUCKET; credentials in .local/stack/stack.env)
   Stop everything with: make down
MSG

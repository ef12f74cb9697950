#!/usr/bin/env bash
# The demo: the shipped dataset through data_preparation -> training -> model_selection -> batch_inference, then
# DEMO_DAYS simulated days (default 7, Monday to Sunday) with a concept change from day 4 (Thursday): each day is
# scored, tested and reported on. Sunday's labels show the drop in live quality, which triggers retraining led by
# the days since the change; the retrained model wins on recent players and goes to production the same night. Every run goes through the Mage server's API triggers, so it is visible
# in the Mage UI with its logs. Called by `make demo` with the stack's environment loaded.
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
"$MLOPS" serving-check --url "$SERVING_URL"

# Part two: the closed loop over simulated days, Monday to Sunday. Drift starts on Thursday (day 4); Sunday's labels
# (published weekly, when the week ends) show the drop on four drifted days, and retraining learns from them.
DAYS=${DEMO_DAYS:-7}
PLAYERS=${DEMO_PLAYERS:-2000}
DRIFT=${DEMO_DRIFT:-session_length=0.5}
DRIFT_FROM=${DEMO_DRIFT_FROM:-4}
mapfile -t days < <(.local/venv-app/bin/python - "$DAYS" <<'PY'
import sys
from datetime import date, timedelta

count = int(sys.argv[1])
today = date.today()
# The days end on the latest Sunday before today, the day the week's labels are published.
sunday = today - timedelta(days=today.isoweekday() % 7 or 7)
for offset in range(count):
    print(sunday - timedelta(days=count - 1 - offset))
PY
)
reports=()
echo "== simulating $DAYS days of $PLAYERS players (${days[0]} .. ${days[-1]}); drift $DRIFT from day $DRIFT_FROM"
for i in "${!days[@]}"; do
  day=${days[$i]}
  n=$((i + 1))
  drift_args=()
  note="no drift"
  if ((n >= DRIFT_FROM)); then
    drift_args=(--drift "$DRIFT")
    note="drift $DRIFT"
  fi
  echo "-- day $n/$DAYS $day ($(date -d "$day" +%A), $note)"
  "$MLOPS" simulate --day "$day" --players "$PLAYERS" --seed "$n" "${drift_args[@]}" | sed 's/^/   /'
  vars="{\"batch_date\": \"$day\"}"
  "$MLOPS" run-pipeline batch_inference --variables "$vars" | tail -1 | sed 's/^/   /'
  "$MLOPS" run-pipeline performance_monitoring --variables "$vars" | tail -1 | sed 's/^/   /'
  decision=$("$MLOPS" decision --date "$day" --wait)
  sed -n '1p;/^retraining\|^   retraining/p' <<<"$decision" | sed 's/^/   /'
  if head -1 <<<"$decision" | grep -q 'retraining run [0-9]* started\|promoted on live players'; then
    echo "   models after retraining and model selection:"
    "$MLOPS" status | sed 's/^/     /'
  fi
  # Reports do not feed any decision: they run in Mage while the next day goes on.
  started_run=$("$MLOPS" run-pipeline performance_reports --variables "$vars" --no-wait)
  echo "   $started_run"
  reports+=("$(awk '{print $3}' <<<"$started_run")")
done
echo "== waiting for the daily reports"
for run_id in "${reports[@]}"; do
  "$MLOPS" wait-run performance_reports "$run_id" | sed 's/^/   /'
done
echo "== live quality of what production served, per labelled day (the drop; the retrained model is judged by next week's labels)"
"$MLOPS" live-quality --date "${days[-1]}" --days "$DAYS" | sed 's/^/   /'
cat <<MSG
== done in $((SECONDS - started))s. Look around (every address and secret is in .local/stack/stack.env):
   Mage     $MAGE_URL   every run above, with logs; each pipeline's schedule under Triggers (login $DEFAULT_OWNER_EMAIL; password: DEFAULT_OWNER_PASSWORD)
   MLflow   $MLFLOW_TRACKING_URI   experiment and registered model "${GAME_TITLE:-demo-game}-engagement" (aliases,
            selection decisions as version tags); experiment "${GAME_TITLE:-demo-game}-monitoring": one run per night
            (login $MLFLOW_ADMIN_USERNAME; password: MLFLOW_ADMIN_PASSWORD)
   Evidently $EVIDENTLY_URL   project "${GAME_TITLE:-demo-game}": drift over the simulated days, reports, test suites
   Serving  $SERVING_URL/docs   the production model over HTTP (token: SERVING_TOKEN)
   S3       $AWS_ENDPOINT_URL   bucket $S3_BUCKET (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
   Stop everything with: make down
MSG

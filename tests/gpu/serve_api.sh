# Helpers for the GPU-machine scripts that drive `migdra serve` over its API with curl (kubectl is
# not there). Source from bash:
#   serve_wait_ready PORT PID DATA_DIR   waits up to 30 s for /readyz (0), 1 if serve exited or
#                                        never answered; sets SERVE_BASE and SERVE_TOKEN
#   serve_api CURL_ARGS...               curl with serve's token, JSON content type
#   serve_wait_job_pod JOB               waits up to 180 s for the first pod of Job JOB (namespace
#                                        default) to end; sets POD and PHASE (Succeeded, Failed or
#                                        what it was at the time limit)

serve_wait_ready() {
  local port=$1 pid=$2 data=$3 i
  SERVE_BASE=https://127.0.0.1:$port
  for ((i = 0; i < 300; i++)); do
    if curl -sk --max-time 1 "$SERVE_BASE/readyz" | grep -q ok; then
      SERVE_TOKEN=$(cat "$data/token")
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

serve_api() {
  curl -sk --max-time 30 -H "Authorization: Bearer $SERVE_TOKEN" -H 'Content-Type: application/json' "$@"
}

serve_wait_job_pod() {
  local job=$1 i
  POD= PHASE=
  for ((i = 0; i < 180; i++)); do
    POD=$(serve_api "$SERVE_BASE/api/v1/namespaces/default/pods?labelSelector=job-name%3D$job" |
      python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["metadata"]["name"] if i else "")')
    if [[ -n $POD ]]; then
      PHASE=$(serve_api "$SERVE_BASE/api/v1/namespaces/default/pods/$POD" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",{}).get("phase",""))')
      [[ $PHASE == Succeeded || $PHASE == Failed ]] && return 0
    fi
    sleep 1
  done
}

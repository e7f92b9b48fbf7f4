#!/usr/bin/env bash
# The model lifecycle from the command line, on the embedded default catalog
# (a SQLite file and a local artifact folder under ./.registry-demo/):
#   train v1 -> checks -> Staging -> approval by a second person -> Production
#   train v2 -> ... -> Production (v1 archived) -> rollback to v1
# Every step prints the command it runs, then what the registry answered.
set -euo pipefail

demo_home="${DEMO_HOME:-.registry-demo}"
rm -rf "$demo_home"
mkdir -p "$demo_home"
export REGISTRY_DATABASE_URL="sqlite:///$demo_home/registry.db"
export REGISTRY_ARTIFACT_ROOT="$demo_home/artifacts"
export REGISTRY_ACTOR="${REGISTRY_ACTOR:-ml-engineer}"
model=fraud-detector

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }
# A command the registry must refuse: show the refusal, fail the demo if it is accepted.
refused() {
    printf '$'; printf ' %q' "$@"; printf '\n'
    if "$@"; then echo "demo: expected a refusal" >&2; exit 1; fi
}

train_and_register() {
    local version_seed=$1 trees=$2 description=$3
    local out="$demo_home/work/model-$version_seed.pkl"
    local facts
    facts=$(python examples/train_fraud_model.py "$out" --seed "$version_seed" --trees "$trees")
    local digest auc ap
    digest=$(python -c 'import json,sys; print(json.load(sys.stdin)["dataset_digest"])' <<<"$facts")
    auc=$(python -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["roc_auc"])' <<<"$facts")
    ap=$(python -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["average_precision"])' <<<"$facts")
    run registry register "$model" "$out" --run-id "train-$version_seed" --dataset-digest "$digest" \
        --param n_estimators="$trees" --param seed="$version_seed" \
        --metric roc_auc="$auc" --metric average_precision="$ap" --description "$description"
    roc_auc=$auc
}

gate_checks() {
    local version=$1
    run registry check "$model" "$version" data_quality --passed --details '{"suite": "transactions", "expectations": 6}'
    local ok
    ok=$(python -c "print('--passed' if $roc_auc >= 0.80 else '--failed')")
    run registry check "$model" "$version" roc_auc_gate "$ok" --details "{\"roc_auc\": $roc_auc, \"threshold\": 0.80}"
}

step "Set the governance policy: data quality before Staging, the AUC gate before Production"
run registry policy "$model" 2>/dev/null || true
train_and_register 7 40 "baseline random forest"
run registry policy "$model" --staging-check data_quality --production-check roc_auc_gate --approvals 1

step "Validate version 1 and move it to Staging"
gate_checks 1
run registry transition "$model" 1 Staging

step "The registrant cannot approve their own version, and nothing is promoted without approval"
refused registry approve "$model" 1
refused registry promote "$model" 1

step "A second person approves; the promotion goes through"
run registry approve "$model" 1 --actor risk-reviewer --comment "metrics and model card reviewed"
run registry promote "$model" 1 --reason "first production model"

step "Train version 2, validate, approve and promote it: version 1 is archived"
train_and_register 11 80 "larger forest"
gate_checks 2
run registry transition "$model" 2 Staging
run registry approve "$model" 2 --actor risk-reviewer --comment "shadow metrics better"
run registry promote "$model" 2
run registry alias "$model" champion 2

step "Roll back to version 1 at 3 a.m."
run registry rollback "$model" --reason "precision dropped after the deploy" --actor on-call

step "Which model is in production, who approved it, what data trained it?"
run registry show "models:/$model/Production"
run registry versions "$model"

step "The audit trail and its integrity"
run registry audit "$model"
run registry audit --verify

printf '\nThe demo catalog is in %s; inspect it with, for example:\n  REGISTRY_DATABASE_URL=%s registry show models:/%s/Production\n' \
    "$demo_home" "$REGISTRY_DATABASE_URL" "$model"

# Sourced by examples/demo.sh and examples/demo_zh.sh: run each step once, record its wall time.
# Needs TIMES (a file the step times are appended to).

step() {  # step NAME DIR COMMAND...: run COMMAND unless DIR is finished; record the wall time
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/.demo_done" ]; then
    echo "== $name: already done ($dir)"; printf '%s\t%s\n' "$name" "reused" >>"$TIMES"; return
  fi
  echo; echo "== $name"; echo "   \$ $*"
  local t=$(date +%s)
  "$@"
  mkdir -p "$dir"; touch "$dir/.demo_done"
  printf '%s\t%s\n' "$name" "$(( $(date +%s) - t ))" >>"$TIMES"
}

# The demos' distillation learning rates were chosen over seeds with AdamW (docs/quality.md); general_distill.py and
# task_distill.py default to the original's BertAdam (no bias correction: a 3-6x larger step at the same rate early on)
ADAMW="--optimizer adamw --weight_decay 1e-4"

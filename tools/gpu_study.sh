#!/bin/sh
# The full study on a lent GPU machine (its python3 has torch; fastai and the rest travel as wheels in .whl/).
# Runs chapters 04-06 and 10 in full mode, in parallel, and packs the executed notebooks and study/ into $OUT.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CRL_ULS_FULL=1 OMP_NUM_THREADS=4
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, fastai, crl_uls.pipeline; print('torch', torch.__version__, 'fastai', fastai.__version__, torch.cuda.get_device_name(0))" || exit 1
start=$(date +%s)
timeout -k 10 ${STUDY_TIMEOUT:-470} python3 tools/run_notebooks.py --parallel \
    ${NOTEBOOKS:-nbs/04_segmentation.ipynb nbs/05_quality.ipynb nbs/06_landmarks.ipynb nbs/10_study.ipynb}
echo "notebooks: exit $? after $(( $(date +%s) - start )) s"
tar czf ${OUT:-/tmp}/results.tgz nbs/04_segmentation.ipynb nbs/05_quality.ipynb nbs/06_landmarks.ipynb nbs/10_study.ipynb study 2>&1
ls -la ${OUT:-/tmp}

#!/bin/sh
# Jobs on a lent GPU machine (its python3 has torch; fastai and the rest travel as wheels in .whl/):
#   sh tools/gpu_study.sh            the study chapter with the gpu preset; packs the executed notebook and study/ into $OUT
#   sh tools/gpu_study.sh robustness study/robustness/robustness.py with the gpu preset (wider, classic and shifted test sets, then
#                                    fine-tuning on 20 shifted images against scratch); its work folder is .work/robustness
#                                    and robustness.json is copied to $OUT. Do not count on a second call finding that
#                                    folder: on 2026-11-27 the warm machine's next call held only two of its folder names
#   sh tools/gpu_study.sh shifted    the gpu preset with the ultrasound augmentation on its U-Net (--set segmentation.us_aug=0.25,
#                                    as the cpu preset has it): one folder, scored on the shifted, wider and classic tests.
#                                    Its U-Net is scored by study/robustness/ensemble_dice.py as soon as training writes segmentation.pkl
#                                    (unet_dice.txt), while the Good/Bad and landmark learners still train, so the Dice figure
#                                    comes back even if the whole job outruns its limit (about 450 s on an H200 on 2026-11-27);
#                                    also as unet+bn, adapted to 200 unlabelled shifted images (crl-uls synth, 256 px, seed 904, as on the CPU:
#                                    study/robustness/cpu_operator/adapt_batchnorm.json), what `crl-uls train --adapt` does
# STUDY_TIMEOUT=540 (seconds) sets the time limit; CRL_ULS_PRESET=tiny tries either job on a CPU first.
# The wheels (pure Python but plum-dispatch; the device's python3 is 3.12 and has torch, numpy, pandas, sklearn, rich):
#   echo /.whl/ >> .git/info/exclude; mkdir -p .whl; cd .whl; python3 -m pip download --no-deps --only-binary=:all: \
#     --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d . fastai==2.8.7 fastcore==1.14.5 fasttransform==0.0.2 plum-dispatch==2.9.0 \
#     beartype==0.23.1 fastprogress==1.0.3 fastdownload==0.0.8 pydicom==3.0.2 execnb==0.1.18 ipython==9.18.1 \
#     ipython_pygments_lexers==1.1.1 jedi==0.20.1 parso==0.8.7 matplotlib-inline==0.2.2 pexpect==4.9.0 ptyprocess==0.7.0 \
#     prompt_toolkit==3.0.53 stack-data==0.6.3 asttokens==3.0.2 executing==2.3.0 pure_eval==0.2.4 traitlets==5.16.1 wcwidth==0.9.4
#   (fastprogress 1.0.3: 1.1.x imports fasthtml.) Then call the device tool with carry [".whl"].
set -u
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1; fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CRL_ULS_PRESET=${CRL_ULS_PRESET:-gpu} CRL_ULS_THREADS=4
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, fastai, crl_uls.pipeline; print('torch', torch.__version__, 'fastai', fastai.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" || exit 1
start=$(date +%s)
if [ "${1:-study}" = shifted ]; then
  W=.work/robustness; M=$W/models_${CRL_ULS_PRESET}_aug0.25_seg
  ( python3 -m crl_uls.cli synth $W/unlabelled_shifted_200 --n 200 --seed 904 --shifted --quiet > /dev/null
    until [ -s $M/segmentation.pkl ]; do sleep 5; done; sleep 10    # a file still being written fails to load: tried again below
    for try in 1 2 3; do python3 study/robustness/ensemble_dice.py --models unet=$M/segmentation.pkl --adapt $W/unlabelled_shifted_200 --max 1 \
      --csv ${OUT:-/tmp}/unet_dice.csv --tests shifted=$W/test_shifted wide=$W/test_wide classic=$W/test_classic \
      > ${OUT:-/tmp}/unet_dice.txt 2>&1 && break; sleep 10; done
    echo "U-Net scored after $(( $(date +%s) - start )) s"; cat ${OUT:-/tmp}/unet_dice.txt ) &
  timeout -k 10 ${STUDY_TIMEOUT:-540} python3 study/robustness/robustness.py $W --preset $CRL_ULS_PRESET --augs 0.25 --aug-stages segmentation --curve
  echo "robustness: exit $? after $(( $(date +%s) - start )) s"
  timeout 30 sh -c "while [ ! -s ${OUT:-/tmp}/unet_dice.txt ] || pgrep -f ensemble_dice >/dev/null; do sleep 2; done"
  cp $W/robustness.json ${OUT:-/tmp}/ 2>&1
elif [ "${1:-study}" = robustness ]; then
  timeout -k 10 ${STUDY_TIMEOUT:-540} python3 study/robustness/robustness.py .work/robustness --preset $CRL_ULS_PRESET --augs 0 --base-aug 0 --curve 20
  echo "robustness: exit $? after $(( $(date +%s) - start )) s"
  cp .work/robustness/robustness.json .work/robustness/learning_curve.png ${OUT:-/tmp}/ 2>&1
else
  timeout -k 10 ${STUDY_TIMEOUT:-540} python3 tools/run_notebooks.py nbs/13_study.ipynb
  echo "notebooks: exit $? after $(( $(date +%s) - start )) s"
  tar czf ${OUT:-/tmp}/results.tgz nbs/13_study.ipynb study 2>&1
fi
ls -la ${OUT:-/tmp}

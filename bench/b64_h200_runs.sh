# Run groups of the twenty-second session's brain MRI 64^2 complete-split rows, shared by b64_h200_summary.sh,
# b64_h200_addition.sh and b64_rep23_summary.sh (sourced from bench/, with R set to the runs folder).
BASE=($R/le-b64-baselines-h200s{0,1,2})   # ResNet-18, small CNN, D-Cube's image CNN alone (H200)
CTL=($R/le-b64-random-h200s{0,1,2})       # the random-init U-Net (H200): its linear probes (+ a few head cells)
CTLC=$R/le-b64-random-cpu                 # the same 2-step U-Net retrained on the CPU: CATS-like, D-Cube heads at 5-25
D=($R/le-b64-s{0,1}-cpud3000)             # four cheap methods on the two H200-trained DDPMs (CPU)
DC=(); for s in 0 1; do [ -d $R/le-b64-s$s-cpud3000dc ] && DC+=($R/le-b64-s$s-cpud3000dc); done  # full D-Cube head

#!/bin/sh
# A worker loop. On SIGTERM it finishes the job in hand, then exits 0.
stop=0
trap 'stop=1; echo "TERM received, finishing job $job"' TERM
job=0
while [ "$stop" = 0 ]; do
  job=$((job + 1))
  echo "job $job: working"
  sleep 2 & wait $! 2>/dev/null
done
sleep 0.3
echo "job $job done, bye"

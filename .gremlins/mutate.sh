#!/bin/sh
# mutate.sh PKG... runs gremlins (pinned, never installed globally) over each
# package with the settings in .gremlins/<pkg>.yaml, writes the JSON report
# and the full log to $MUTATE_OUT, and prints one summary line per package
# followed by the mutants that lived. Run it from the module root; see
# `make mutate` and README.md.
set -u
GREMLINS=${GREMLINS:-${GO:-go} run github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0}
OUT=${MUTATE_OUT:-.gremlins/report}
# gremlins times each mutant's test run out at timeout-coefficient times
# the time its coverage run took. A coverage run served from go test's
# cache takes milliseconds and would time every mutant out: never cache.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"
mkdir -p "$OUT"
status=0
summary=$OUT/summary.txt
printf '%-14s %8s %7s %6s %12s %9s %10s %9s\n' package time killed lived "not covered" "timed out" efficacy mcoverage >"$summary"
for pkg in "$@"; do
	dir=${pkg#./}
	dir=${dir%/}
	dir=${dir%/...}
	name=$(printf '%s' "$dir" | tr / -)
	cfg=.gremlins/$name.yaml
	if [ ! -f "$cfg" ]; then
		echo "mutate: no $cfg for $pkg" >&2
		status=1
		continue
	fi
	echo "== gremlins $dir (config $cfg, log $OUT/$name.log)"
	start=$(date +%s)
	# gremlins exits non-zero when a threshold in the config is not met;
	# the summary says which, so keep going with the other packages.
	$GREMLINS unleash --config "$cfg" --output "$OUT/$name.json" "./$dir" >"$OUT/$name.log" 2>&1 || status=1
	secs=$(($(date +%s) - start))
	awk -v pkg="$dir/" -v secs="$secs" '
		/^Killed:/      { gsub(",", ""); k = $2; l = $4; nc = $7 }
		/^Timed out:/   { gsub(",", ""); to = $3 }
		/^Test efficacy:/    { e = $3 }
		/^Mutator coverage:/ { c = $3 }
		END {
			if (e == "") { printf "%-14s %7ss  gremlins failed: see the log\n", pkg, secs; exit }
			printf "%-14s %7.1fm %7s %6s %12s %9s %10s %9s\n", pkg, secs / 60, k, l, nc, to, e, c
		}' "$OUT/$name.log" | tee -a "$summary"
	grep -E '^ *LIVED ' "$OUT/$name.log" | sed 's/^ */    /' | sort -t: -k1,1 -k2,2n
done
echo
cat "$summary"
exit $status

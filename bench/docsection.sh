# bench/docsection.sh — sourced by the benchmark scripts that rewrite a
# section of docs/benchmarks.md.
#
# latest_section TITLE_COMMAND TABLE: prints the section's text: a "Latest
# measurement" heading with the date, then the command, this machine (CPU,
# cores, kernel, load average at the end), then TABLE.
latest_section() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
	printf '### Latest measurement (%s)\n\n%s, %s, %s cores, kernel %s, load average %s at the end.\n\n%s\n' \
		"$(date -u '+%Y-%m-%d %H:%M UTC')" "$1" "$cpu" "$(nproc)" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$2"
}

# write_section NAME SECTION: replaces what lies between <!-- BEGIN NAME -->
# and <!-- END NAME --> in docs/benchmarks.md with SECTION.
write_section() {
	local docs
	docs=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/docs/benchmarks.md
	awk -v name="$1" -v sec="$2" '
		$0 == "<!-- BEGIN " name " -->" { print; print sec; skip = 1; next }
		$0 == "<!-- END " name " -->" { skip = 0 }
		!skip { print }' "$docs" >"$docs.tmp" && mv "$docs.tmp" "$docs"
}

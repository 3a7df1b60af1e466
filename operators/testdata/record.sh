# Sourced by the fake command lines of this directory: appends the command's
# name and arguments to $FAKE_ARGV, one invocation a line, the arguments
# separated by the unit separator (0x1f).
record() {
	local IFS=$'\x1f'
	printf '%s\x1f%s\n' "$(basename "$0")" "$*" >>"${FAKE_ARGV:?FAKE_ARGV is not set}"
}

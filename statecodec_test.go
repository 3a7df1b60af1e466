package aiflow

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fast paths of State[T] must give exactly what encoding/json gives.

var codecInputs = []string{
	"0", "-0", "1", "-1", "42", "01", "-01", "+1", "00", "1.0", "1.5", "-0.0", "1e3", "1E+2", "1e-7", "1e400", "-1e400",
	".5", "5.", "-", "", "0x10", "1_000", " 1", "1 ", "\t1", "null", "true", "false", "True", "tru", "truee",
	"127", "128", "-128", "-129", "255", "256", "32767", "32768", "-32768", "-32769", "65535", "65536",
	"2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"9999999999999999999", "18446744073709551615", "18446744073709551616", "1234567890123456789012",
	"0.1", "0.30000000000000004", "1.7976931348623157e308", "5e-324", "2e-324", "123456789012345678901234567890",
	`"abc"`, `""`, `"`, `"a\"b"`, `"a\\b"`, `"<>&"`, `"é"`, `"\u00e9"`, "\"a\x01\"", `"abc`, `abc"`, `"a"b"`, `[1]`, `{}`,
}

func TestStateCodecDecodesAsEncodingJSON(t *testing.T) {
	for _, in := range codecInputs {
		checkDecodeAll(t, []byte(in))
	}
}

func TestStateCodecEncodesAsEncodingJSON(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 127, -128, 255, 1 << 31, -1 << 31, math.MaxInt64, math.MinInt64} {
		checkEncodeAll(t, v)
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.0 / 3, 1e-6, 9.99e-7, -1e-6, 1e20, 1e21, 999999999999999999999, -1e21,
		1.5e300, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 123456.789} {
		checkEncode(t, f)
	}
	for _, s := range []string{"", "abc", "a b ~", "a<b", "a>b", "a&b", `a"b`, `a\b`, "é", "\x00", "\x7f", "\u2028", "\xff"} {
		checkEncode(t, s)
	}
	checkEncode(t, true)
	checkEncode(t, false)
}

func TestStateCodecFastPathsAreTaken(t *testing.T) {
	var i int
	var u8 uint8
	var f float64
	var b bool
	var s string
	require.True(t, decodeScalar([]byte("-42"), &i))
	require.True(t, decodeScalar([]byte("255"), &u8))
	require.True(t, decodeScalar([]byte("-1.5e3"), &f))
	require.True(t, decodeScalar([]byte("true"), &b))
	require.True(t, decodeScalar([]byte(`"a b"`), &s))
	require.Equal(t, []any{-42, uint8(255), -1500.0, true, "a b"}, []any{i, u8, f, b, s})
	for _, p := range []any{&i, &u8, &f, &b, &s} {
		_, ok := encodeScalar(p)
		require.True(t, ok, "%T", p)
	}
	type named int
	var n named
	require.False(t, decodeScalar([]byte("1"), &n), "named types go to encoding/json (they may have JSON methods)")
}

func FuzzStateCodec(f *testing.F) {
	for _, in := range codecInputs {
		f.Add([]byte(in), int64(len(in)), float64(len(in))/7)
	}
	f.Fuzz(func(t *testing.T, data []byte, i int64, x float64) {
		checkDecodeAll(t, data)
		checkEncodeAll(t, i)
		checkEncode(t, x)
		checkEncode(t, string(data))
	})
}

func checkDecodeAll(t *testing.T, data []byte) {
	t.Helper()
	checkDecode[int](t, data)
	checkDecode[int64](t, data)
	checkDecode[int32](t, data)
	checkDecode[int16](t, data)
	checkDecode[int8](t, data)
	checkDecode[uint](t, data)
	checkDecode[uint64](t, data)
	checkDecode[uint32](t, data)
	checkDecode[uint16](t, data)
	checkDecode[uint8](t, data)
	checkDecode[float64](t, data)
	checkDecode[bool](t, data)
	checkDecode[string](t, data)
}

func checkEncodeAll(t *testing.T, v int64) {
	t.Helper()
	checkEncode(t, int(v))
	checkEncode(t, v)
	checkEncode(t, int32(v))
	checkEncode(t, int16(v))
	checkEncode(t, int8(v))
	checkEncode(t, uint(v))
	checkEncode(t, uint64(v))
	checkEncode(t, uint32(v))
	checkEncode(t, uint16(v))
	checkEncode(t, uint8(v))
}

// checkDecode checks that when decodeScalar decodes data, encoding/json
// decodes it to the same value without error, and that when it does not,
// it leaves the value alone.
func checkDecode[T comparable](t *testing.T, data []byte) {
	t.Helper()
	var fast, zero T
	if !decodeScalar(data, &fast) {
		require.Equal(t, zero, fast, "%T %q: a refused decoding changed the value", fast, data)
		return
	}
	var want T
	require.NoError(t, json.Unmarshal(data, &want), "%T %q: decoded by the fast path", fast, data)
	require.Equal(t, jsonOf(t, want), jsonOf(t, fast), "%T %q", fast, data)
	if f, ok := any(fast).(float64); ok {
		require.Equal(t, math.Float64bits(any(want).(float64)), math.Float64bits(f), "%q", data)
	} else {
		require.Equal(t, want, fast, "%T %q", fast, data)
	}
}

// checkEncode checks that when encodeScalar encodes v, it writes what
// json.Marshal writes, and that the fast decoding reads it back.
func checkEncode[T comparable](t *testing.T, v T) {
	t.Helper()
	fast, ok := encodeScalar(&v)
	if !ok {
		return
	}
	want, err := json.Marshal(v)
	require.NoError(t, err, "%T %v: encoded by the fast path", v, v)
	require.Equal(t, string(want), string(fast), "%T %v", v, v)
	checkDecode[T](t, fast)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

// TestStateUpdateReusesItsBuffer: State.Update encodes scalars into a buffer
// of the context, which the environment copies, so successive updates of a
// context (as the engine's shared one, every execution an event reaches)
// leave each state its own value; RawState returns a copy.
func TestStateUpdateReusesItsBuffer(t *testing.T) {
	env := &runEnv{r: &ConditionRun{}, state: map[string][]byte{}}
	cc := &ConditionContext{env: env}
	require.NoError(t, ValueState[int](cc, "a").Update(12345))
	require.NoError(t, ValueState[int](cc, "b").Update(7))
	require.NoError(t, ValueState[string](cc, "c").Update("xy"))
	require.Equal(t, "12345", string(env.state["a"]))
	require.Equal(t, "7", string(env.state["b"]))
	require.Equal(t, `"xy"`, string(env.state["c"]))
	raw, ok := cc.RawState("a")
	require.True(t, ok)
	raw[0] = '9'
	require.Equal(t, "12345", string(env.state["a"]), "RawState returns a copy")
	n := testing.AllocsPerRun(100, func() { _ = ValueState[int](cc, "b").Update(8) })
	require.LessOrEqual(t, n, 1.0, "only the environment's copy allocates")
}

package credits

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// Credits is an exact amount of credits, stored as a whole number of
// micro-credits (millionths of a credit). Adding, comparing and storing
// amounts never allocates and never rounds; the only rounding in the library
// happens in pricing math (see [PriceTable.Quote]) and is documented there.
//
// The zero value is zero credits. Use the constant [Credit] to write
// amounts in code, the way time.Second is used with time.Duration:
//
//	price := 3 * credits.Credit          // 3 credits
//	half := credits.Credit / 2          // 0.5 credits
//
// Arithmetic that could overflow is done through [Credits.Add],
// [Credits.Sub] and [Credits.Mul], which return [ErrOverflow] instead of
// wrapping around.
type Credits int64

const (
	// Scale is the number of decimal places a Credits value holds.
	Scale = 6
	// Credit is one whole credit.
	Credit Credits = 1_000_000
	// MaxCredits is the largest amount a Credits value can hold
	// (about 9.2 trillion credits).
	MaxCredits Credits = math.MaxInt64
	// MinCredits is the smallest (most negative) amount a Credits value can hold.
	MinCredits Credits = -math.MaxInt64
)

// FromInt returns n whole credits, or an error wrapping [ErrOverflow] when
// n credits do not fit in a Credits value.
func FromInt(n int64) (Credits, error) {
	return Credit.Mul(n)
}

// Parse reads a decimal amount of credits such as "18", "2.5" or "-0.000001".
// It accepts at most [Scale] decimal places and never rounds: "0.0000001" is
// an error, as is anything that is not a plain decimal number.
func Parse(s string) (Credits, error) {
	if s == "" {
		return 0, fmt.Errorf("credits: parse %q: empty amount", s)
	}
	// decimal accepts exponents ("1e3"); a money amount is written plainly.
	if strings.ContainsAny(s, "eE") {
		return 0, fmt.Errorf("credits: parse %q: exponents are not allowed", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("credits: parse %q: not a decimal number", s)
	}
	return FromDecimal(d)
}

// MustParse is like [Parse] but panics on error. It is for amounts written
// in code and tests, like regexp.MustCompile.
func MustParse(s string) Credits {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

// FromDecimal converts d to Credits exactly. It fails when d has more than
// [Scale] decimal places or does not fit.
func FromDecimal(d decimal.Decimal) (Credits, error) {
	units := d.Shift(Scale)
	if !units.Equal(units.Truncate(0)) {
		return 0, fmt.Errorf("credits: %s has more than %d decimal places", d.String(), Scale)
	}
	if units.GreaterThan(decimal.NewFromInt(int64(MaxCredits))) || units.LessThan(decimal.NewFromInt(int64(MinCredits))) {
		return 0, fmt.Errorf("credits: %s: %w", d.String(), ErrOverflow)
	}
	return Credits(units.IntPart()), nil
}

// Decimal returns c as an exact decimal number of credits.
func (c Credits) Decimal() decimal.Decimal {
	return decimal.New(int64(c), -Scale)
}

// Add returns c+o, or an error wrapping [ErrOverflow].
func (c Credits) Add(o Credits) (Credits, error) {
	s := c + o
	if (o > 0 && s < c) || (o < 0 && s > c) || s == math.MinInt64 {
		return 0, fmt.Errorf("credits: %s + %s: %w", c, o, ErrOverflow)
	}
	return s, nil
}

// Sub returns c-o, or an error wrapping [ErrOverflow].
func (c Credits) Sub(o Credits) (Credits, error) {
	if o == math.MinInt64 {
		return 0, fmt.Errorf("credits: %s - %d units: %w", c, int64(o), ErrOverflow)
	}
	return c.Add(-o)
}

// Mul returns c*n, or an error wrapping [ErrOverflow].
func (c Credits) Mul(n int64) (Credits, error) {
	if c == 0 || n == 0 {
		return 0, nil
	}
	p := int64(c) * n
	if p/n != int64(c) || p == math.MinInt64 || (n == -1 && c == math.MinInt64) {
		return 0, fmt.Errorf("credits: %s × %d: %w", c, n, ErrOverflow)
	}
	return Credits(p), nil
}

// String formats c as a plain decimal number of credits with no trailing
// zeros: "18", "2.5", "-0.000001". [Parse] reads it back exactly.
func (c Credits) String() string {
	var buf [24]byte
	return string(c.appendText(buf[:0]))
}

// appendText appends the String form of c to b without allocating.
func (c Credits) appendText(b []byte) []byte {
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c)
	}
	whole, frac := u/uint64(Credit), u%uint64(Credit)
	b = appendUint(b, whole)
	if frac == 0 {
		return b
	}
	var digits [Scale]byte
	for i := Scale - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := Scale
	for n > 0 && digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

func appendUint(b []byte, u uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// MarshalText implements encoding.TextMarshaler with the [Credits.String] form.
func (c Credits) MarshalText() ([]byte, error) {
	return c.appendText(nil), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [Parse].
func (c *Credits) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalJSON encodes c as a plain JSON number such as 18 or 2.5.
func (c Credits) MarshalJSON() ([]byte, error) {
	return c.appendText(nil), nil
}

// UnmarshalJSON reads a JSON number such as 18 or 2.5, or the same number
// as a JSON string ("2.5") for clients whose JSON numbers are float64.
// Amounts with more than [Scale] decimal places are an error, never rounded.
func (c *Credits) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if string(b) == "null" {
		return fmt.Errorf("credits: null is not an amount")
	}
	return c.UnmarshalText(b)
}

// Value implements driver.Valuer: an amount is stored in SQL as an integer
// number of micro-credits, exactly.
func (c Credits) Value() (driver.Value, error) {
	return int64(c), nil
}

// Scan implements sql.Scanner, reading an integer number of micro-credits.
func (c *Credits) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c = Credits(v)
		return nil
	default:
		return fmt.Errorf("credits: cannot scan %T into Credits (want an integer of micro-credits)", src)
	}
}

// Action is a billable action. The zero value is not an action; every
// action has a stable text name (see [Action.String]) used in JSON, SQL
// and the command line.
type Action uint8

// The billable actions of the R-Credits price table.
const (
	ChatMessage             Action = iota + 1 // chat_message: each message sent to an AI assistant
	LiveVoiceChat                             // live_voice_chat: each voice interaction
	TextToSpeech                              // text_to_speech: a voiceover clip
	ImageGeneration                           // image_generation: an image
	MusicGeneration                           // music_generation: a music track
	VideoGeneration                           // video_generation: a video clip, priced by resolution
	PublicAPIAICreation                       // public_api_ai_creation: the creator loop of a prompt->mp4 job
	Render                                    // render: export of a final video
	UploadVideo                               // upload_video: a video file uploaded or imported
	UploadImage                               // upload_image: an image file uploaded or imported
	UploadAudio                               // upload_audio: an audio file uploaded or imported
	ScreenRecordingUpload                     // screen_recording_upload: a .vidova recording bundle
	ScreenRecordingAnalysis                   // screen_recording_analysis: the optional analysis of a recording

	numActions = iota + 1 // one past the last action; sizes per-action arrays
)

var actionNames = [numActions]string{
	ChatMessage:             "chat_message",
	LiveVoiceChat:           "live_voice_chat",
	TextToSpeech:            "text_to_speech",
	ImageGeneration:         "image_generation",
	MusicGeneration:         "music_generation",
	VideoGeneration:         "video_generation",
	PublicAPIAICreation:     "public_api_ai_creation",
	Render:                  "render",
	UploadVideo:             "upload_video",
	UploadImage:             "upload_image",
	UploadAudio:             "upload_audio",
	ScreenRecordingUpload:   "screen_recording_upload",
	ScreenRecordingAnalysis: "screen_recording_analysis",
}

// Actions returns every action, in the order of the price table.
func Actions() []Action {
	out := make([]Action, 0, numActions-1)
	for a := Action(1); a < numActions; a++ {
		out = append(out, a)
	}
	return out
}

// Valid reports whether a is one of the defined actions.
func (a Action) Valid() bool { return a > 0 && a < numActions }

// String returns the stable text name of a, such as "chat_message".
func (a Action) String() string {
	if a.Valid() {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction returns the action with the text name s (exactly as
// [Action.String] prints it). An unknown name is an error naming it.
func ParseAction(s string) (Action, error) {
	for a := Action(1); a < numActions; a++ {
		if actionNames[a] == s {
			return a, nil
		}
	}
	return 0, &InputError{Field: "action", Value: s, Reason: "unknown action"}
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, &InputError{Field: "action", Value: a.String(), Reason: "unknown action"}
	}
	return []byte(actionNames[a]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseAction].
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Resolution is the output resolution of a generated video. The zero value
// means "not given": video generation is then priced at its 720p base.
type Resolution uint8

// The video resolutions and their price multipliers in the default table.
const (
	Res720p  Resolution = iota + 1 // 720p: 1x
	Res1080p                       // 1080p: 2x
	Res4K                          // 4k: 4x

	numResolutions = iota + 1
)

var resolutionNames = [numResolutions]string{Res720p: "720p", Res1080p: "1080p", Res4K: "4k"}

// Resolutions returns every resolution, lowest first.
func Resolutions() []Resolution { return []Resolution{Res720p, Res1080p, Res4K} }

// Valid reports whether r is one of the defined resolutions.
func (r Resolution) Valid() bool { return r > 0 && r < numResolutions }

// String returns "720p", "1080p" or "4k"; "" for the zero value.
func (r Resolution) String() string {
	if r == 0 {
		return ""
	}
	if r.Valid() {
		return resolutionNames[r]
	}
	return fmt.Sprintf("Resolution(%d)", uint8(r))
}

// ParseResolution reads a resolution name, case-insensitively: "4K" and
// "4k" are the same. An unknown name is an error naming it; it never falls
// back to a default.
func ParseResolution(s string) (Resolution, error) {
	for r := Resolution(1); r < numResolutions; r++ {
		if strings.EqualFold(resolutionNames[r], s) {
			return r, nil
		}
	}
	return 0, &InputError{Field: "resolution", Value: s, Reason: "unknown resolution (want 720p, 1080p or 4k)"}
}

// MarshalText implements encoding.TextMarshaler.
func (r Resolution) MarshalText() ([]byte, error) {
	if r != 0 && !r.Valid() {
		return nil, &InputError{Field: "resolution", Value: r.String(), Reason: "unknown resolution"}
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseResolution].
func (r *Resolution) UnmarshalText(b []byte) error {
	v, err := ParseResolution(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// AssetType is the kind of a file a job uploads or imports; it decides the
// upload action that is charged. The zero value means "not given".
type AssetType uint8

// The asset types and the upload action each is charged as.
const (
	AssetVideo           AssetType = iota + 1 // video: upload_video
	AssetImage                                // image: upload_image
	AssetAudio                                // audio: upload_audio
	AssetScreenRecording                      // screen_recording: screen_recording_upload

	numAssetTypes = iota + 1
)

var assetTypeNames = [numAssetTypes]string{
	AssetVideo:           "video",
	AssetImage:           "image",
	AssetAudio:           "audio",
	AssetScreenRecording: "screen_recording",
}

var assetUploadAction = [numAssetTypes]Action{
	AssetVideo:           UploadVideo,
	AssetImage:           UploadImage,
	AssetAudio:           UploadAudio,
	AssetScreenRecording: ScreenRecordingUpload,
}

// Valid reports whether t is one of the defined asset types.
func (t AssetType) Valid() bool { return t > 0 && t < numAssetTypes }

// String returns "video", "image", "audio" or "screen_recording"; "" for
// the zero value.
func (t AssetType) String() string {
	if t == 0 {
		return ""
	}
	if t.Valid() {
		return assetTypeNames[t]
	}
	return fmt.Sprintf("AssetType(%d)", uint8(t))
}

// UploadAction returns the action an upload of this type is charged as.
func (t AssetType) UploadAction() Action {
	if !t.Valid() {
		return 0
	}
	return assetUploadAction[t]
}

// ParseAssetType reads an asset type name, case-insensitively. An unknown
// name is an error naming it.
func ParseAssetType(s string) (AssetType, error) {
	for t := AssetType(1); t < numAssetTypes; t++ {
		if strings.EqualFold(assetTypeNames[t], s) {
			return t, nil
		}
	}
	return 0, &InputError{Field: "type", Value: s, Reason: "unknown asset type (want video, image, audio or screen_recording)"}
}

// MarshalText implements encoding.TextMarshaler.
func (t AssetType) MarshalText() ([]byte, error) {
	if t != 0 && !t.Valid() {
		return nil, &InputError{Field: "type", Value: t.String(), Reason: "unknown asset type"}
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseAssetType].
func (t *AssetType) UnmarshalText(b []byte) error {
	v, err := ParseAssetType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

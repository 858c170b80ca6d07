package credits_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/avstudio/credits"
)

func TestActionNames(t *testing.T) {
	want := []string{
		"chat_message", "live_voice_chat", "text_to_speech", "image_generation", "music_generation",
		"video_generation", "public_api_ai_creation", "render", "upload_video", "upload_image",
		"upload_audio", "screen_recording_upload", "screen_recording_analysis",
	}
	acts := credits.Actions()
	if len(acts) != len(want) {
		t.Fatalf("Actions() has %d actions, want %d", len(acts), len(want))
	}
	for i, a := range acts {
		if !a.Valid() || a.String() != want[i] {
			t.Errorf("Actions()[%d] = %v (valid %v), want %s", i, a, a.Valid(), want[i])
		}
		p, err := credits.ParseAction(want[i])
		if err != nil || p != a {
			t.Errorf("ParseAction(%q) = %v, %v", want[i], p, err)
		}
		txt, err := a.MarshalText()
		if err != nil || string(txt) != want[i] {
			t.Errorf("MarshalText(%v) = %s, %v", a, txt, err)
		}
		var back credits.Action
		if err := back.UnmarshalText(txt); err != nil || back != a {
			t.Errorf("UnmarshalText(%s) = %v, %v", txt, back, err)
		}
	}
	for _, bad := range []string{"", "Chat_Message", "chat message", "upload"} {
		_, err := credits.ParseAction(bad)
		var ie *credits.InputError
		if !errors.As(err, &ie) || !errors.Is(err, credits.ErrInvalidInput) || ie.Value != bad || ie.Field != "action" {
			t.Errorf("ParseAction(%q) = %v, want an InputError naming it", bad, err)
		}
	}
	if credits.Action(0).Valid() || credits.Action(200).Valid() {
		t.Error("invalid actions report Valid")
	}
	if _, err := credits.Action(0).MarshalText(); err == nil {
		t.Error("MarshalText of the zero action succeeded")
	}
	if s := credits.Action(99).String(); s != "Action(99)" {
		t.Errorf("Action(99).String() = %q", s)
	}
}

func TestResolutionNames(t *testing.T) {
	for in, want := range map[string]credits.Resolution{
		"720p": credits.Res720p, "1080p": credits.Res1080p, "4k": credits.Res4K, "4K": credits.Res4K, "720P": credits.Res720p,
	} {
		got, err := credits.ParseResolution(in)
		if err != nil || got != want {
			t.Errorf("ParseResolution(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, r := range credits.Resolutions() {
		txt, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back credits.Resolution
		if err := back.UnmarshalText(txt); err != nil || back != r {
			t.Errorf("round trip %v: %v, %v", r, back, err)
		}
	}
	for _, bad := range []string{"", "8k", "1440p", "720"} {
		if _, err := credits.ParseResolution(bad); !errors.Is(err, credits.ErrInvalidInput) || !strings.Contains(err.Error(), "resolution") {
			t.Errorf("ParseResolution(%q) = %v, want an InputError", bad, err)
		}
	}
	if credits.Resolution(0).String() != "" || credits.Resolution(0).Valid() {
		t.Error("zero Resolution should print \"\" and not be valid")
	}
}

func TestAssetTypeNames(t *testing.T) {
	want := map[credits.AssetType]struct {
		name   string
		upload credits.Action
	}{
		credits.AssetVideo:           {"video", credits.UploadVideo},
		credits.AssetImage:           {"image", credits.UploadImage},
		credits.AssetAudio:           {"audio", credits.UploadAudio},
		credits.AssetScreenRecording: {"screen_recording", credits.ScreenRecordingUpload},
	}
	for typ, w := range want {
		if typ.String() != w.name || typ.UploadAction() != w.upload {
			t.Errorf("%v: name %q upload %v; want %q %v", typ, typ.String(), typ.UploadAction(), w.name, w.upload)
		}
		got, err := credits.ParseAssetType(strings.ToUpper(w.name))
		if err != nil || got != typ {
			t.Errorf("ParseAssetType(%q) = %v, %v", strings.ToUpper(w.name), got, err)
		}
	}
	if credits.AssetType(0).UploadAction() != 0 || credits.AssetType(9).UploadAction() != 0 {
		t.Error("invalid asset types should have no upload action")
	}
	if _, err := credits.ParseAssetType("pdf"); !errors.Is(err, credits.ErrInvalidInput) || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("ParseAssetType(pdf) = %v", err)
	}
}

// FuzzParseNames: the name parsers never panic, and what they accept
// prints back to a name they accept as the same value.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"chat_message", "4K", "screen_recording", "video", "", "render\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := credits.ParseAction(s); err == nil {
			if back, err := credits.ParseAction(a.String()); err != nil || back != a || a.String() != s {
				t.Fatalf("ParseAction(%q) = %v, round trip %v, %v", s, a, back, err)
			}
		} else if !errors.Is(err, credits.ErrInvalidInput) {
			t.Fatalf("ParseAction(%q): %v is not an InputError", s, err)
		}
		if r, err := credits.ParseResolution(s); err == nil {
			if back, err := credits.ParseResolution(r.String()); err != nil || back != r {
				t.Fatalf("ParseResolution(%q) = %v, round trip %v, %v", s, r, back, err)
			}
		} else if !errors.Is(err, credits.ErrInvalidInput) {
			t.Fatalf("ParseResolution(%q): %v is not an InputError", s, err)
		}
		if a, err := credits.ParseAssetType(s); err == nil {
			if back, err := credits.ParseAssetType(a.String()); err != nil || back != a {
				t.Fatalf("ParseAssetType(%q) = %v, round trip %v, %v", s, a, back, err)
			}
		} else if !errors.Is(err, credits.ErrInvalidInput) {
			t.Fatalf("ParseAssetType(%q): %v is not an InputError", s, err)
		}
		if p, err := credits.ParsePipeline(s); err == nil {
			if p.String() != s {
				t.Fatalf("ParsePipeline(%q) = %v", s, p)
			}
		} else if !errors.Is(err, credits.ErrInvalidInput) {
			t.Fatalf("ParsePipeline(%q): %v is not an InputError", s, err)
		}
	})
}

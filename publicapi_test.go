package credits_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"
)

// line is shorthand for an estimate line in whole credits.
func line(a credits.Action, qty, unit int64) credits.EstimateLine {
	u := credits.Credits(unit) * credits.Credit
	return credits.EstimateLine{Action: a, Quantity: qty, UnitPrice: u, Subtotal: u * credits.Credits(qty)}
}

func estimate(t *testing.T, job credits.Job) credits.Estimate {
	t.Helper()
	est, err := credits.DefaultPriceTable().EstimateJob(job)
	if err != nil {
		t.Fatalf("EstimateJob: %v", err)
	}
	var sum credits.Credits
	for _, l := range est.Lines {
		if l.Subtotal != l.UnitPrice*credits.Credits(l.Quantity) {
			t.Errorf("line %+v: subtotal is not unit price × quantity", l)
		}
		sum += l.Subtotal
	}
	if sum != est.Total {
		t.Errorf("total %v is not the sum of the lines (%v)", est.Total, sum)
	}
	return est
}

// TestEstimateSpecFigures: each pipeline with each asset type, uploaded
// and imported, with the SPEC's figures.
func TestEstimateSpecFigures(t *testing.T) {
	pipelines := []struct {
		p     credits.Pipeline
		fixed []credits.EstimateLine
		base  int64
	}{
		{credits.PromptToMP4, []credits.EstimateLine{line(credits.PublicAPIAICreation, 1, 3), line(credits.Render, 1, 5)}, 8},
		{credits.JSONToMP4, []credits.EstimateLine{line(credits.Render, 1, 5)}, 5},
	}
	assets := []struct {
		name     string
		typ      credits.AssetType
		analyze  bool
		lines    []credits.EstimateLine
		addition int64
	}{
		{"clip.mp4", credits.AssetVideo, false, []credits.EstimateLine{line(credits.UploadVideo, 1, 5)}, 5},
		{"logo.png", credits.AssetImage, false, []credits.EstimateLine{line(credits.UploadImage, 1, 0)}, 0},
		{"music.mp3", credits.AssetAudio, false, []credits.EstimateLine{line(credits.UploadAudio, 1, 3)}, 3},
		{"demo.vidova", credits.AssetScreenRecording, false, []credits.EstimateLine{line(credits.ScreenRecordingUpload, 1, 0)}, 0},
		{"demo.vidova", credits.AssetScreenRecording, true, []credits.EstimateLine{line(credits.ScreenRecordingUpload, 1, 0), line(credits.ScreenRecordingAnalysis, 1, 5)}, 5},
	}
	for _, p := range pipelines {
		t.Run(p.p.String()+"/no assets", func(t *testing.T) {
			job := credits.Job{Pipeline: p.p, Prompt: "make a video"}
			want := credits.Estimate{Pipeline: p.p, PriceVersion: "v1", Total: credits.Credits(p.base) * credits.Credit, Lines: p.fixed}
			if diff := cmp.Diff(want, estimate(t, job)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
		for _, a := range assets {
			for _, how := range []string{"upload", "upload by extension", "remote", "remote by extension"} {
				name := fmt.Sprintf("%s/%s/%s", p.p, how, a.typ)
				if a.analyze {
					name += "+analysis"
				}
				t.Run(name, func(t *testing.T) {
					job := credits.Job{Pipeline: p.p, Prompt: "make a video"}
					typ := a.typ
					if strings.HasSuffix(how, "by extension") {
						typ = 0
					}
					if strings.HasPrefix(how, "upload") {
						job.Uploads = []credits.Upload{{Name: a.name, Type: typ, Analyze: a.analyze}}
					} else {
						job.RemoteAssets = []credits.RemoteAsset{{URL: "https://cdn.example.com/media/" + a.name, Type: typ, Analyze: a.analyze}}
					}
					want := credits.Estimate{
						Pipeline: p.p, PriceVersion: "v1",
						Total: credits.Credits(p.base+a.addition) * credits.Credit,
						Lines: append(append([]credits.EstimateLine(nil), a.lines...), p.fixed...),
					}
					if diff := cmp.Diff(want, estimate(t, job)); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func TestEstimateLineOrderAndZeroLines(t *testing.T) {
	job := credits.Job{
		Pipeline: credits.PromptToMP4,
		Prompt:   "p",
		RemoteAssets: []credits.RemoteAsset{
			{URL: "https://x.example/r.vidova", Analyze: true},
			{URL: "https://x.example/b.mp3"},
			{URL: "https://x.example/c.gif"},
			{URL: "https://x.example/d.webm"},
			{URL: "https://x.example/e.jpeg"},
		},
		Uploads: []credits.Upload{{Name: "z.mov"}, {Name: "y.ogg"}},
	}
	got := estimate(t, job)
	want := []credits.EstimateLine{
		line(credits.UploadVideo, 2, 5),
		line(credits.UploadImage, 2, 0), // free, but shown
		line(credits.UploadAudio, 2, 3),
		line(credits.ScreenRecordingUpload, 1, 0),
		line(credits.ScreenRecordingAnalysis, 1, 5),
		line(credits.PublicAPIAICreation, 1, 3),
		line(credits.Render, 1, 5),
	}
	if diff := cmp.Diff(want, got.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if got.Total != 29*credits.Credit {
		t.Errorf("total = %v, want 29", got.Total)
	}
}

func TestEstimateAnalysisOnlyWhereAsked(t *testing.T) {
	job := credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{
		{Name: "a.vidova"}, {Name: "b.vidova", Analyze: true}, {Name: "c.vidova"}, {Name: "d.vidova", Analyze: true},
	}}
	got := estimate(t, job)
	want := []credits.EstimateLine{line(credits.ScreenRecordingUpload, 4, 0), line(credits.ScreenRecordingAnalysis, 2, 5), line(credits.Render, 1, 5)}
	if diff := cmp.Diff(want, got.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestEstimateURLDedupe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		urls  []credits.RemoteAsset
		lines []credits.EstimateLine
	}{
		{"same URL twice", []credits.RemoteAsset{{URL: "https://a.example/v.mp4"}, {URL: "https://a.example/v.mp4"}},
			[]credits.EstimateLine{line(credits.UploadVideo, 1, 5)}},
		{"scheme and host case", []credits.RemoteAsset{{URL: "https://a.example/v.mp4"}, {URL: "HTTPS://A.EXAMPLE/v.mp4"}},
			[]credits.EstimateLine{line(credits.UploadVideo, 1, 5)}},
		{"fragment ignored", []credits.RemoteAsset{{URL: "https://a.example/v.mp4#t=3"}, {URL: "https://a.example/v.mp4"}},
			[]credits.EstimateLine{line(credits.UploadVideo, 1, 5)}},
		{"path case matters", []credits.RemoteAsset{{URL: "https://a.example/v.mp4"}, {URL: "https://a.example/V.mp4"}},
			[]credits.EstimateLine{line(credits.UploadVideo, 2, 5)}},
		{"query matters", []credits.RemoteAsset{{URL: "https://a.example/v.mp4?x=1"}, {URL: "https://a.example/v.mp4?x=2"}},
			[]credits.EstimateLine{line(credits.UploadVideo, 2, 5)}},
		{"http vs https", []credits.RemoteAsset{{URL: "http://a.example/v.mp4"}, {URL: "https://a.example/v.mp4"}},
			[]credits.EstimateLine{line(credits.UploadVideo, 2, 5)}},
		{"explicit and inferred type agree", []credits.RemoteAsset{{URL: "https://a.example/v.mp4"}, {URL: "https://a.example/v.mp4", Type: credits.AssetVideo}},
			[]credits.EstimateLine{line(credits.UploadVideo, 1, 5)}},
		{"analysis once if either asks", []credits.RemoteAsset{{URL: "https://a.example/r.vidova"}, {URL: "https://a.example/r.vidova", Analyze: true}, {URL: "https://a.example/r.vidova", Analyze: true}},
			[]credits.EstimateLine{line(credits.ScreenRecordingUpload, 1, 0), line(credits.ScreenRecordingAnalysis, 1, 5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := estimate(t, credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: tc.urls})
			want := append(tc.lines, line(credits.Render, 1, 5))
			if diff := cmp.Diff(want, got.Lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
	_, err := credits.DefaultPriceTable().EstimateJob(credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{
		{URL: "https://a.example/x.mp4"}, {URL: "https://a.example/y.png"}, {URL: "https://A.example/x.mp4", Type: credits.AssetImage},
	}})
	wantErr := `remote_assets[2].type: "image": same URL as remote_assets[0], which is video`
	if err == nil || err.Error() != wantErr {
		t.Errorf("conflicting types: %v, want %s", err, wantErr)
	}
}

// TestEstimateLargeJobDedupe: jobs past the inline dedupe size use a map;
// both ways must agree.
func TestEstimateLargeJobDedupe(t *testing.T) {
	var assets []credits.RemoteAsset
	for i := 0; i < 300; i++ {
		host := "cdn.example.com"
		if i%3 == 0 {
			host = "CDN.Example.COM"
		}
		frag := ""
		if i%5 == 0 {
			frag = "#frag"
		}
		assets = append(assets, credits.RemoteAsset{URL: fmt.Sprintf("https://%s/v%d.mp4%s", host, i%100, frag), Analyze: false})
	}
	assets = append(assets, credits.RemoteAsset{URL: "https://cdn.example.com/r.vidova"}, credits.RemoteAsset{URL: "https://cdn.example.com/r.vidova#x", Analyze: true})
	got := estimate(t, credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: assets})
	want := []credits.EstimateLine{line(credits.UploadVideo, 100, 5), line(credits.ScreenRecordingUpload, 1, 0), line(credits.ScreenRecordingAnalysis, 1, 5), line(credits.Render, 1, 5)}
	if diff := cmp.Diff(want, got.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	assets = append(assets, credits.RemoteAsset{URL: "https://cdn.example.com/v7.mp4", Type: credits.AssetAudio})
	_, err := credits.DefaultPriceTable().EstimateJob(credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: assets})
	if err == nil || !strings.HasPrefix(err.Error(), `remote_assets[302].type: "audio": same URL as remote_assets[7]`) {
		t.Errorf("conflict in a large job: %v", err)
	}
}

func TestEstimateExtensions(t *testing.T) {
	for url, want := range map[string]credits.AssetType{
		"https://a.example/x.mp4":                   credits.AssetVideo,
		"https://a.example/x.MOV":                   credits.AssetVideo,
		"https://a.example/x.WebM?a=b.png":          credits.AssetVideo,
		"https://a.example/x.mkv#y.png":             credits.AssetVideo,
		"https://a.example/dir.png/x.JPG":           credits.AssetImage,
		"https://a.example/x.jpeg":                  credits.AssetImage,
		"https://a.example/x.webp":                  credits.AssetImage,
		"https://a.example/x.gif":                   credits.AssetImage,
		"https://a.example/x.png":                   credits.AssetImage,
		"https://a.example/a.b.mp3":                 credits.AssetAudio,
		"https://a.example/x.wav":                   credits.AssetAudio,
		"https://a.example/x.m4a":                   credits.AssetAudio,
		"https://a.example/x.aac":                   credits.AssetAudio,
		"https://a.example/x.ogg":                   credits.AssetAudio,
		"https://a.example/x.FLAC":                  credits.AssetAudio,
		"https://a.example/x.vidova":                credits.AssetScreenRecording,
		"http://a.example:8080/x.VIDOVA?download=1": credits.AssetScreenRecording,
	} {
		got := estimate(t, credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: url}}})
		if got.Lines[0].Action != want.UploadAction() {
			t.Errorf("%s charged as %v, want %v", url, got.Lines[0].Action, want.UploadAction())
		}
	}
	for _, url := range []string{
		"https://a.example/x", "https://a.example/x.mp4/", "https://a.example/x.mp4/y", "https://a.example/x.pdf",
		"https://a.example/", "https://a.example", "https://a.example?f=a.mp4", "https://a.example/x#a.mp4", "https://a.example/.mp",
	} {
		_, err := credits.DefaultPriceTable().EstimateJob(credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: url}}})
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != "remote_assets[0].url" || ie.Value != url || !strings.Contains(ie.Reason, "no known file extension") {
			t.Errorf("%s: %v, want an error naming the URL", url, err)
		}
	}
	// A given type wins over the extension.
	got := estimate(t, credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "thumb.mp4", Type: credits.AssetImage}}})
	if got.Lines[0].Action != credits.UploadImage {
		t.Errorf("given type ignored: %+v", got.Lines)
	}
	// Upload names: the last segment's extension, / or \ separated.
	for name, want := range map[string]credits.Action{`dir.mp3/clip.MP4`: credits.UploadVideo, `C:\music.mp4\song.ogg`: credits.UploadAudio, `.png`: credits.UploadImage} {
		got := estimate(t, credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: name}}})
		if got.Lines[0].Action != want {
			t.Errorf("upload %q charged as %v, want %v", name, got.Lines[0].Action, want)
		}
	}
}

func TestEstimateURLValidation(t *testing.T) {
	ok := []string{
		"https://cdn.example.com/a.mp4",
		"http://cdn.example.com/a.mp4",
		"HTTPS://cdn.example.com/a.mp4",
		"https://cdn.example.com:8443/a.mp4",
		"https://[2001:db8::1]/a.mp4",
		"https://[2001:db8::1]:443/a.mp4",
		"https://127.0.0.1/a.mp4",
		"https://cdn.example.com/a%20b.mp4?x=1&y=[2]#f",
		"https://cdn.example.com/~user/it's(1)+!$*,;=:@.mp4",
		"https://cdn.example.com/" + strings.Repeat("a", credits.MaxAssetURLLen-len("https://cdn.example.com/")-4) + ".mp4",
	}
	for _, u := range ok {
		if _, err := credits.DefaultPriceTable().EstimateJob(credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: u}}}); err != nil {
			t.Errorf("%.80s: %v", u, err)
		}
	}
	for _, tc := range []struct{ url, reason string }{
		{"", "required"},
		{"https://cdn.example.com/" + strings.Repeat("a", credits.MaxAssetURLLen-len("https://cdn.example.com/")-3) + ".mp4", "longer than 2048 bytes"},
		{"ftp://cdn.example.com/a.mp4", "must be an http:// or https:// URL"},
		{"file:///etc/passwd.mp4", "must be an http:// or https:// URL"},
		{"javascript:alert(1).mp4", "must be an http:// or https:// URL"},
		{"//cdn.example.com/a.mp4", "must be an http:// or https:// URL"},
		{"cdn.example.com/a.mp4", "must be an http:// or https:// URL"},
		{"https:/cdn.example.com/a.mp4", "must be an http:// or https:// URL"},
		{"https://", "has no host"},
		{"https:///a.mp4", "has no host"},
		{"https://?a.mp4", "has no host"},
		{"https://:80/a.mp4", "has no host"},
		{"https://[]/a.mp4", "has no host"},
		{"https://cdn.example.com/my clip.mp4", "contains a space or control character"},
		{"https://cdn.example.com/a.mp4\n", "contains a space or control character"},
		{"https://cdn.example.com/a\x00.mp4", "contains a space or control character"},
		{"https://cdn.example.com/a\x7f.mp4", "contains a space or control character"},
		{"https://cdn.example.com/é.mp4", "contains a non-ASCII byte"},
		{"https://cdn.example.com/a\\b.mp4", `contains '\\', which must be percent-encoded`},
		{"https://cdn.example.com/a\"b.mp4", `contains '"', which must be percent-encoded`},
		{"https://cdn.example.com/a{b}.mp4", `contains '{', which must be percent-encoded`},
		{"https://cdn.example.com/a%2.mp4", "has a malformed %-escape"},
		{"https://cdn.example.com/a%zz.mp4", "has a malformed %-escape"},
		{"https://cdn.example.com/a.mp4%", "has a malformed %-escape"},
		{"https://user:pw@cdn.example.com/a.mp4", "must not contain credentials"},
		{"https://cdn.example.com:http/a.mp4", "has a malformed port"},
		{"https://cdn.example.com:/a.mp4", "has a malformed port"},
		{"https://cdn.example.com:1234567/a.mp4", "has a malformed port"},
		{"https://cdn.example.com:80:80/a.mp4", "has a malformed port"},
		{"https://[2001:db8::1/a.mp4", "has a malformed host"},
		{"https://[zz::1]/a.mp4", "has a malformed host"},
		{"https://[::1]x/a.mp4", "has a malformed port"},
		{"https://cdn!example.com/a.mp4", "has a malformed host"},
		{"https://cdn.example.com[1]/a.mp4", "has a malformed host"},
	} {
		job := credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: "https://ok.example/fine.mp4"}, {URL: tc.url, Type: credits.AssetVideo}}}
		_, err := credits.DefaultPriceTable().EstimateJob(job)
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != "remote_assets[1].url" || !strings.Contains(ie.Reason, tc.reason) {
			t.Errorf("%.60q: %v; want remote_assets[1].url: %s", tc.url, err, tc.reason)
		}
	}
}

func TestEstimateJobErrors(t *testing.T) {
	many := func(n int) []credits.Upload {
		u := make([]credits.Upload, n)
		for i := range u {
			u[i] = credits.Upload{Name: fmt.Sprintf("f%d.png", i)}
		}
		return u
	}
	manyRemote := func(n int) []credits.RemoteAsset {
		r := make([]credits.RemoteAsset, n)
		for i := range r {
			r[i] = credits.RemoteAsset{URL: fmt.Sprintf("https://a.example/%d.png", i)}
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		job   credits.Job
		field string
		want  string // the start of the message
	}{
		{"no pipeline", credits.Job{Prompt: "p"}, "pipeline", "pipeline: required"},
		{"unknown pipeline", credits.Job{Pipeline: 9, Prompt: "p"}, "pipeline", `pipeline: "Pipeline(9)": unknown pipeline`},
		{"no prompt", credits.Job{Pipeline: credits.PromptToMP4}, "prompt", "prompt: required for prompt_to_mp4"},
		{"blank prompt", credits.Job{Pipeline: credits.PromptToMP4, Prompt: " \n\t "}, "prompt", "prompt: required for prompt_to_mp4"},
		{"long prompt", credits.Job{Pipeline: credits.PromptToMP4, Prompt: strings.Repeat("x", credits.MaxPromptLen+1)}, "prompt", "prompt: 32769 bytes: longer than 32768 bytes"},
		{"long prompt on json_to_mp4", credits.Job{Pipeline: credits.JSONToMP4, Prompt: strings.Repeat("x", credits.MaxPromptLen+1)}, "prompt", "prompt: 32769 bytes"},
		{"too many uploads", credits.Job{Pipeline: credits.JSONToMP4, Uploads: many(1001)}, "uploads", "uploads: 1001 uploads and remote assets: at most 1000 per job"},
		{"too many in all", credits.Job{Pipeline: credits.JSONToMP4, Uploads: many(500), RemoteAssets: manyRemote(501)}, "remote_assets", "remote_assets: 1001 uploads"},
		{"no name", credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "a.png"}, {Type: credits.AssetImage}}}, "uploads[1].name", "uploads[1].name: required"},
		{"long name", credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: strings.Repeat("n", 1021) + ".png"}}}, "uploads[0].name", "uploads[0].name:"},
		{"control in name", credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "a\nb.png"}}}, "uploads[0].name", `uploads[0].name: "a\nb.png": contains a control character`},
		{"no type", credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "notes.txt"}}}, "uploads[0].name", `uploads[0].name: "notes.txt": no type given and no known file extension`},
		{"bad type", credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "a.png", Type: 42}}}, "uploads[0].type", `uploads[0].type: "AssetType(42)": unknown asset type`},
		{"analyze a video", credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "a.mp4", Analyze: true}}}, "uploads[0].analyze", "uploads[0].analyze: only screen recordings can be analyzed (this is video)"},
		{"analyze a remote image", credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: "https://a.example/a", Type: credits.AssetImage, Analyze: true}}}, "remote_assets[0].analyze", "remote_assets[0].analyze: only screen recordings"},
		{"remote bad type", credits.Job{Pipeline: credits.JSONToMP4, RemoteAssets: []credits.RemoteAsset{{URL: "https://a.example/a.mp4", Type: 7}}}, "remote_assets[0].type", `remote_assets[0].type: "AssetType(7)"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			est, err := credits.DefaultPriceTable().EstimateJob(tc.job)
			var ie *credits.InputError
			if !errors.As(err, &ie) || !errors.Is(err, credits.ErrInvalidInput) {
				t.Fatalf("EstimateJob = %+v, %v; want an InputError", est, err)
			}
			if ie.Field != tc.field || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q (field %q)\nwant field %q, message starting %q", err, ie.Field, tc.field, tc.want)
			}
			if verr := tc.job.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate = %v, want the same error", verr)
			}
		})
	}
	// Exactly at the limits: fine.
	limits := credits.Job{Pipeline: credits.PromptToMP4, Prompt: strings.Repeat("é", credits.MaxPromptLen/2), Uploads: many(500), RemoteAssets: manyRemote(500)}
	limits.Uploads[0].Name = strings.Repeat("n", credits.MaxUploadNameLen-4) + ".png"
	if est, err := credits.DefaultPriceTable().EstimateJob(limits); err != nil || est.Total != 8*credits.Credit {
		t.Errorf("a job at the limits: %v, %v", est.Total, err)
	}
}

func TestEstimateOverflow(t *testing.T) {
	table, err := testTable(t, "rich", jan2025, func(p map[credits.Action]credits.Credits, _ map[credits.Resolution]decimal.Decimal) {
		p[credits.UploadVideo] = credits.MaxCredits / 10
	})
	if err != nil {
		t.Fatal(err)
	}
	job := credits.Job{Pipeline: credits.JSONToMP4}
	for i := 0; i < 20; i++ {
		job.Uploads = append(job.Uploads, credits.Upload{Name: fmt.Sprintf("%d.mp4", i)})
	}
	if _, err := table.EstimateJob(job); !errors.Is(err, credits.ErrOverflow) {
		t.Errorf("EstimateJob = %v, want ErrOverflow", err)
	}
	job.Uploads = job.Uploads[:10]
	if _, err := table.EstimateJob(job); !errors.Is(err, credits.ErrOverflow) {
		t.Errorf("EstimateJob (total overflow) = %v, want ErrOverflow", err)
	}
}

func TestEstimateJSON(t *testing.T) {
	est := estimate(t, credits.Job{Pipeline: credits.PromptToMP4, Prompt: "p", Uploads: []credits.Upload{{Name: "a.png"}, {Name: "b.mp3"}}})
	b, err := json.Marshal(est)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pipeline":"prompt_to_mp4","price_version":"v1","total":11,"lines":[` +
		`{"action":"upload_image","quantity":1,"unit_price":0,"subtotal":0},` +
		`{"action":"upload_audio","quantity":1,"unit_price":3,"subtotal":3},` +
		`{"action":"public_api_ai_creation","quantity":1,"unit_price":3,"subtotal":3},` +
		`{"action":"render","quantity":1,"unit_price":5,"subtotal":5}]}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	var back credits.Estimate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(est, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestPipelineNames(t *testing.T) {
	for p, name := range map[credits.Pipeline]string{credits.PromptToMP4: "prompt_to_mp4", credits.JSONToMP4: "json_to_mp4"} {
		if p.String() != name || !p.Valid() {
			t.Errorf("%d: %q", p, p.String())
		}
		txt, err := p.MarshalText()
		if err != nil || string(txt) != name {
			t.Errorf("MarshalText(%v) = %s, %v", p, txt, err)
		}
		var back credits.Pipeline
		if err := back.UnmarshalText(txt); err != nil || back != p {
			t.Errorf("UnmarshalText(%s) = %v, %v", txt, back, err)
		}
	}
	if _, err := credits.ParsePipeline("Prompt_To_MP4"); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("ParsePipeline is not exact: %v", err)
	}
	if credits.Pipeline(0).String() != "" || credits.Pipeline(0).Valid() || credits.Pipeline(3).Valid() {
		t.Error("invalid pipelines")
	}
	if _, err := credits.Pipeline(3).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid pipeline succeeded")
	}
}

// issueExample is the job JSON of the issue, verbatim.
const issueExample = `{"pipeline": "prompt_to_mp4", "prompt": "...", "uploads": [{"name": "intro.mp4", "type": "video"}, {"name": "demo.vidova", "type": "screen_recording", "analyze": true}], "remote_assets": [{"url": "https://cdn.example.com/a.mp3"}, {"url": "https://cdn.example.com/logo", "type": "image"}]}`

func TestDecodeJob(t *testing.T) {
	job, err := credits.DecodeJob(strings.NewReader(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	want := credits.Job{
		Pipeline: credits.PromptToMP4,
		Prompt:   "...",
		Uploads: []credits.Upload{
			{Name: "intro.mp4", Type: credits.AssetVideo},
			{Name: "demo.vidova", Type: credits.AssetScreenRecording, Analyze: true},
		},
		RemoteAssets: []credits.RemoteAsset{
			{URL: "https://cdn.example.com/a.mp3"},
			{URL: "https://cdn.example.com/logo", Type: credits.AssetImage},
		},
	}
	if diff := cmp.Diff(want, job); diff != "" {
		t.Errorf("DecodeJob (-want +got):\n%s", diff)
	}
	est := estimate(t, job)
	if est.Total != 21*credits.Credit {
		t.Errorf("total = %v, want 21 (5 video + 0 image + 3 audio + 0 recording + 5 analysis + 3 AI + 5 render)", est.Total)
	}
	// Our own encoding decodes back to the same job.
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	var back credits.Job
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(job, back); diff != "" {
		t.Errorf("round trip of %s (-want +got):\n%s", b, diff)
	}
	// Null and "" mean "not given" for optional fields.
	job, err = credits.DecodeJob(strings.NewReader(`{"pipeline":"json_to_mp4","prompt":null,"uploads":[{"name":"a.mp4","type":null,"analyze":null},{"name":"b.png","type":""}],"remote_assets":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(credits.Job{Pipeline: credits.JSONToMP4, Uploads: []credits.Upload{{Name: "a.mp4"}, {Name: "b.png"}}}, job); diff != "" {
		t.Errorf("nulls (-want +got):\n%s", diff)
	}
	job, err = credits.DecodeJob(strings.NewReader(` {"pipeline":"json_to_mp4","uploads":[],"remote_assets":[]}` + "\n\n"))
	if err != nil || job.Uploads != nil || job.RemoteAssets != nil {
		t.Errorf("empty lists: %+v, %v", job, err)
	}
	// Inside a larger request: strict and validated; null is left alone.
	var req struct {
		Account string       `json:"account"`
		Job     credits.Job  `json:"job"`
		Next    *credits.Job `json:"next"`
	}
	if err := json.Unmarshal([]byte(`{"account":"a","job":{"pipeline":"json_to_mp4"},"next":null}`), &req); err != nil || req.Job.Pipeline != credits.JSONToMP4 || req.Next != nil {
		t.Errorf("a job inside a request: %+v, %v", req, err)
	}
	err = json.Unmarshal([]byte(`{"account":"a","job":{"pipeline":"json_to_mp4","uploads":[{"name":"x"}]}}`), &req)
	if !errors.Is(err, credits.ErrInvalidInput) || !strings.Contains(err.Error(), "uploads[0].name") {
		t.Errorf("a bad job inside a request: %v", err)
	}
}

func TestDecodeJobErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "job: empty document"},
		{"white space", " \n", "job: empty document"},
		{"not an object", `"prompt_to_mp4"`, "job: must be an object, got a string"},
		{"array", `[{}]`, "job: must be an object, got an array"},
		{"null", `null`, "job: must be an object, got null"},
		{"malformed", `{"pipeline": "json_to_mp4",}`, "job: malformed JSON at byte"},
		{"truncated", `{"pipeline": "json_to_mp4"`, "job: malformed JSON: unexpected end of input"},
		{"trailing object", `{"pipeline": "json_to_mp4"} {}`, "job: unexpected data after the JSON value"},
		{"trailing garbage", `{"pipeline": "json_to_mp4"} x`, "job: "},
		{"unknown field", `{"pipeline": "json_to_mp4", "priority": 1}`, "priority: unknown field"},
		{"unknown field in upload", `{"pipeline": "json_to_mp4", "uploads": [{"name": "a.mp4"}, {"name": "b.mp4", "size": 3}]}`, "uploads[1].size: unknown field"},
		{"unknown field in asset", `{"pipeline": "json_to_mp4", "remote_assets": [{"href": "https://a.example/a.mp4"}]}`, "remote_assets[0].href: unknown field"},
		{"field case", `{"Pipeline": "json_to_mp4"}`, "Pipeline: unknown field"},
		{"duplicate field", `{"pipeline": "json_to_mp4", "pipeline": "prompt_to_mp4"}`, "pipeline: duplicate field"},
		{"duplicate nested", `{"pipeline": "json_to_mp4", "uploads": [{"name": "a.mp4", "name": "b.mp4"}]}`, "uploads[0].name: duplicate field"},
		{"pipeline number", `{"pipeline": 1}`, "pipeline: must be a string, got a number"},
		{"unknown pipeline", `{"pipeline": "mp4_to_gif"}`, `pipeline: "mp4_to_gif": unknown pipeline (want prompt_to_mp4 or json_to_mp4)`},
		{"missing pipeline", `{"prompt": "x"}`, "pipeline: required"},
		{"prompt object", `{"pipeline": "prompt_to_mp4", "prompt": {"text": "x"}}`, "prompt: must be a string, got an object"},
		{"uploads object", `{"pipeline": "json_to_mp4", "uploads": {"name": "a.mp4"}}`, "uploads: must be an array, got an object"},
		{"upload string", `{"pipeline": "json_to_mp4", "uploads": ["a.mp4"]}`, "uploads[0]: must be an object, got a string"},
		{"name number", `{"pipeline": "json_to_mp4", "uploads": [{"name": 5}]}`, "uploads[0].name: must be a string, got a number"},
		{"null name", `{"pipeline": "json_to_mp4", "uploads": [{"name": null}]}`, "uploads[0].name: required"},
		{"type array", `{"pipeline": "json_to_mp4", "uploads": [{"name": "a.mp4", "type": ["video"]}]}`, "uploads[0].type: must be a string, got an array"},
		{"unknown type", `{"pipeline": "json_to_mp4", "remote_assets": [{"url": "https://a.example/a", "type": "pdf"}]}`, `remote_assets[0].type: "pdf": unknown asset type`},
		{"analyze string", `{"pipeline": "json_to_mp4", "uploads": [{"name": "a.vidova", "analyze": "yes"}]}`, "uploads[0].analyze: must be true or false, got a string"},
		{"url number", `{"pipeline": "json_to_mp4", "remote_assets": [{"url": 1}]}`, "remote_assets[0].url: must be a string, got a number"},
		{"bad url", `{"pipeline": "json_to_mp4", "remote_assets": [{"url": "https://a.example/a.mp4"}, {"url": "gopher://a.example/a.mp4"}]}`, `remote_assets[1].url: "gopher://a.example/a.mp4": must be an http:// or https:// URL`},
		{"analyze video", `{"pipeline": "json_to_mp4", "uploads": [{"name": "a.mp4", "analyze": true}]}`, "uploads[0].analyze: only screen recordings can be analyzed"},
		{"missing prompt", `{"pipeline": "prompt_to_mp4"}`, "prompt: required for prompt_to_mp4"},
		{"empty key", `{"": 1}`, `"": unknown field`},
		{"empty nested key", `{"pipeline": "json_to_mp4", "uploads": [{"": 1}]}`, `uploads[0]."": unknown field`},
		{"invalid UTF-8 key", "{\"pipe\xffline\": 1}", "pipe\ufffdline: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job, err := credits.DecodeJob(strings.NewReader(tc.doc))
			if !errors.Is(err, credits.ErrInvalidInput) {
				t.Fatalf("DecodeJob = %+v, %v; want an InputError", job, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\nwant prefix %q", err, tc.want)
			}
			if diff := cmp.Diff(credits.Job{}, job); diff != "" {
				t.Errorf("a rejected job is not zero:\n%s", diff)
			}
		})
	}
}

func TestDecodeJobLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"pipeline":"json_to_mp4","uploads":[`)
	for i := 0; i < 600; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"%d.png"}`, i)
	}
	b.WriteString(`],"remote_assets":[`)
	for i := 0; i < 401; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"url":"https://a.example/%d.png"}`, i)
	}
	b.WriteString(`]}`)
	_, err := credits.DecodeJob(strings.NewReader(b.String()))
	if err == nil || !strings.HasPrefix(err.Error(), "remote_assets[400]: too many assets: at most 1000") {
		t.Errorf("1001 assets: %v", err)
	}
	huge := `{"pipeline":"prompt_to_mp4","prompt":"` + strings.Repeat("x", credits.MaxJobSize) + `"}`
	if _, err := credits.DecodeJob(strings.NewReader(huge)); err == nil || err.Error() != "job: larger than 4194304 bytes" {
		t.Errorf("a huge document: %v", err)
	}
	if _, err := credits.DecodeJob(failingReader{}); err == nil || errors.Is(err, credits.ErrInvalidInput) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("a failing reader: %v", err)
	}
}

// TestJobsGolden estimates every job under testdata/jobs with the default
// table and compares the JSON estimate with its .golden file; the jobs
// under testdata/jobs/invalid must fail with the error in theirs.
// go test -run JobsGolden -update . rewrites them.
func TestJobsGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "jobs", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	invalid, err := filepath.Glob(filepath.Join("testdata", "jobs", "invalid", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 || len(invalid) < 5 {
		t.Fatalf("found %d jobs and %d invalid jobs; testdata is missing", len(files), len(invalid))
	}
	for _, path := range append(files, invalid...) {
		t.Run(path, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []byte
			job, err := credits.DecodeJob(f)
			if err == nil {
				var est credits.Estimate
				est, err = credits.DefaultPriceTable().EstimateJob(job)
				if err == nil {
					got, err = json.MarshalIndent(est, "", "  ")
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			isInvalid := filepath.Base(filepath.Dir(path)) == "invalid"
			switch {
			case isInvalid && err == nil:
				t.Fatalf("an invalid job was accepted: %s", got)
			case !isInvalid && err != nil:
				t.Fatalf("a valid job was refused: %v", err)
			case err != nil:
				if !errors.Is(err, credits.ErrInvalidInput) {
					t.Fatalf("not an InputError: %v", err)
				}
				got = []byte("error: " + err.Error())
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(path, ".json") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run JobsGolden -update .)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// FuzzDecodeJob: DecodeJob never panics; every rejection is an
// InputError; every job it accepts can be estimated, and encodes to JSON
// that decodes back to the same job.
func FuzzDecodeJob(f *testing.F) {
	f.Add(issueExample)
	for _, dir := range []string{"jobs", filepath.Join("jobs", "invalid")} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, path := range files {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Add(`{"pipeline":"json_to_mp4","remote_assets":[{"url":"https://[::1]:8/a.MP4#x"},{"url":"HTTPS://[::1]:8/a.MP4"}]}`)
	f.Add(`{"pipeline":"json_to_mp4","uploads":[{"name":"a.vidova","analyze":true,"type":"SCREEN_RECORDING"}]}`)
	f.Add(`{"pipeline":null}`)
	f.Fuzz(func(t *testing.T, doc string) {
		job, err := credits.DecodeJob(strings.NewReader(doc))
		if err != nil {
			if !errors.Is(err, credits.ErrInvalidInput) {
				t.Fatalf("rejection is not an InputError: %v", err)
			}
			var ie *credits.InputError
			if !errors.As(err, &ie) || ie.Field == "" || ie.Reason == "" {
				t.Fatalf("InputError without a field or reason: %#v", err)
			}
			return
		}
		est, err := credits.DefaultPriceTable().EstimateJob(job)
		if err != nil {
			t.Fatalf("an accepted job cannot be estimated: %v", err)
		}
		if est.Total < 5*credits.Credit || len(est.Lines) == 0 || est.Lines[len(est.Lines)-1].Action != credits.Render {
			t.Fatalf("implausible estimate %+v", est)
		}
		b, err := json.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		back, err := credits.DecodeJob(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-encoded job %s is refused: %v", b, err)
		}
		if diff := cmp.Diff(job, back); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// benchJob is a decoded 10-asset prompt_to_mp4 job: explicit types and
// types from extensions, a query string, an upper-case extension, a
// duplicate URL and an analyzed recording.
func benchJob() credits.Job {
	return credits.Job{
		Pipeline: credits.PromptToMP4,
		Prompt:   "A 30-second product demo with upbeat music, ending on the logo.",
		Uploads: []credits.Upload{
			{Name: "intro.mp4", Type: credits.AssetVideo},
			{Name: "demo.vidova", Type: credits.AssetScreenRecording, Analyze: true},
			{Name: "cover.png"},
			{Name: "voiceover.mp3"},
		},
		RemoteAssets: []credits.RemoteAsset{
			{URL: "https://cdn.example.com/music/theme.mp3"},
			{URL: "https://cdn.example.com/brand/logo", Type: credits.AssetImage},
			{URL: "https://cdn.example.com/clips/hero.mp4?token=abc123"},
			{URL: "https://cdn.example.com/clips/b-roll.MOV"},
			{URL: "https://cdn.example.com/music/theme.mp3"},
			{URL: "https://cdn.example.com/rec/session.vidova", Analyze: true},
		},
	}
}

// baselineTotal is the hand-written sum a service might write for the
// same job with the default prices: no validation, no lines, a plain loop
// with a linear duplicate check. BenchmarkEstimateJob is measured against it.
func baselineTotal(job *credits.Job) credits.Credits {
	const c = credits.Credit
	price := [...]credits.Credits{credits.AssetVideo: 5 * c, credits.AssetImage: 0, credits.AssetAudio: 3 * c, credits.AssetScreenRecording: 0}
	typeOf := func(given credits.AssetType, name string) credits.AssetType {
		if given != 0 {
			return given
		}
		if i := strings.IndexAny(name, "?#"); i >= 0 {
			name = name[:i]
		}
		ext := name[strings.LastIndexByte(name, '.')+1:]
		switch {
		case strings.EqualFold(ext, "mp4"), strings.EqualFold(ext, "mov"):
			return credits.AssetVideo
		case strings.EqualFold(ext, "png"):
			return credits.AssetImage
		case strings.EqualFold(ext, "mp3"):
			return credits.AssetAudio
		}
		return credits.AssetScreenRecording
	}
	total := 5 * c // render
	if job.Pipeline == credits.PromptToMP4 {
		total += 3 * c
	}
	for _, u := range job.Uploads {
		total += price[typeOf(u.Type, u.Name)]
		if u.Analyze {
			total += 5 * c
		}
	}
next:
	for i, a := range job.RemoteAssets {
		for _, b := range job.RemoteAssets[:i] {
			if a.URL == b.URL {
				continue next
			}
		}
		total += price[typeOf(a.Type, a.URL)]
		if a.Analyze {
			total += 5 * c
		}
	}
	return total
}

func TestBenchJob(t *testing.T) {
	job := benchJob()
	est := estimate(t, job)
	if got := baselineTotal(&job); got != est.Total || est.Total != 39*credits.Credit {
		t.Errorf("EstimateJob total %v, baseline %v; want 39", est.Total, got)
	}
	table := credits.DefaultPriceTable()
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := table.EstimateJob(job); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("EstimateJob makes %.1f allocations per call, want at most 2", allocs)
	}
}

var benchSink credits.Credits

func BenchmarkEstimateJob(b *testing.B) {
	job := benchJob()
	table := credits.DefaultPriceTable()
	b.ReportAllocs()
	for b.Loop() {
		est, err := table.EstimateJob(job)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = est.Total
	}
}

func BenchmarkEstimateJobBaseline(b *testing.B) {
	job := benchJob()
	b.ReportAllocs()
	for b.Loop() {
		benchSink = baselineTotal(&job)
	}
}

// BenchmarkEstimateJobLarge: 1,000 remote assets, past the inline dedupe.
func BenchmarkEstimateJobLarge(b *testing.B) {
	job := credits.Job{Pipeline: credits.JSONToMP4}
	for i := 0; i < credits.MaxJobAssets; i++ {
		job.RemoteAssets = append(job.RemoteAssets, credits.RemoteAsset{URL: fmt.Sprintf("https://cdn.example.com/assets/%d/clip.mp4", i%700)})
	}
	table := credits.DefaultPriceTable()
	b.ReportAllocs()
	for b.Loop() {
		est, err := table.EstimateJob(job)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = est.Total
	}
}

func BenchmarkDecodeJob(b *testing.B) {
	doc := []byte(issueExample)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := credits.DecodeJob(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}

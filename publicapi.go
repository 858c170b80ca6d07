package credits

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/avstudio/credits/internal/asseturl"
	"github.com/avstudio/credits/internal/strictjson"
)

// Limits of a public-API job. A job over any of them is refused with an
// [*InputError] naming the field, before anything is priced.
const (
	// MaxJobAssets is the most uploads and remote assets one job may list,
	// together (counted before duplicate URLs are merged).
	MaxJobAssets = 1000
	// MaxAssetURLLen is the longest remote asset URL, in bytes.
	MaxAssetURLLen = 2048
	// MaxPromptLen is the longest prompt, in bytes of UTF-8 (32 KiB).
	MaxPromptLen = 32 << 10
	// MaxUploadNameLen is the longest upload name, in bytes.
	MaxUploadNameLen = 1024
	// MaxJobSize is the largest job JSON document [DecodeJob] reads, in bytes.
	MaxJobSize = 4 << 20
)

// Pipeline is the kind of a public-API job. The zero value is not a
// pipeline; the text names are "prompt_to_mp4" and "json_to_mp4".
type Pipeline uint8

// The public-API pipelines.
const (
	// PromptToMP4 turns a prompt into a video through the AVS creator loop:
	// uploads + public_api_ai_creation (3) + render (5).
	PromptToMP4 Pipeline = iota + 1
	// JSONToMP4 renders a video described in JSON: uploads + render (5).
	JSONToMP4

	numPipelines = iota + 1
)

var pipelineNames = [numPipelines]string{PromptToMP4: "prompt_to_mp4", JSONToMP4: "json_to_mp4"}

// Valid reports whether p is one of the defined pipelines.
func (p Pipeline) Valid() bool { return p > 0 && p < numPipelines }

var pipelineEnum = newEnum[Pipeline]("Pipeline", "pipeline", "pipeline", pipelineNames[:], true, false)

// String returns "prompt_to_mp4" or "json_to_mp4"; "" for the zero value.
func (p Pipeline) String() string { return pipelineEnum.string(p) }

// ParsePipeline returns the pipeline named s, exactly as [Pipeline.String]
// prints it. An unknown name ("" included) is an [*InputError] naming it
// and listing the valid names.
func ParsePipeline(s string) (Pipeline, error) { return pipelineEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (p Pipeline) MarshalText() ([]byte, error) { return pipelineEnum.marshalText(p) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParsePipeline].
// On error p is left unchanged.
func (p *Pipeline) UnmarshalText(b []byte) error { return pipelineEnum.unmarshalText(p, b) }

// Job is a public-API job as the estimator sees it: the pipeline, the
// prompt, the files uploaded with the job and the remote assets it imports.
//
// Its JSON form is
//
//	{"pipeline": "prompt_to_mp4", "prompt": "a product demo",
//	 "uploads": [{"name": "intro.mp4", "type": "video"},
//	             {"name": "demo.vidova", "analyze": true}],
//	 "remote_assets": [{"url": "https://cdn.example.com/a.mp3"},
//	                   {"url": "https://cdn.example.com/logo", "type": "image"}]}
//
// Read it with [DecodeJob] (or json.Unmarshal, which calls
// [Job.UnmarshalJSON]); both are strict and validate the job.
//
// The rules, checked by [Job.Validate] and [PriceTable.EstimateJob]:
//   - pipeline is required.
//   - prompt is required (not only white space) for prompt_to_mp4 and at
//     most [MaxPromptLen] bytes. A json_to_mp4 job may carry a prompt (it
//     is not charged for); the same size limit applies.
//   - at most [MaxJobAssets] uploads and remote assets in all.
//   - an upload's name is required, at most [MaxUploadNameLen] bytes, with
//     no control characters. Uploads are never merged: each one listed is
//     a file sent with the job and is charged, even if two share a name.
//   - a remote asset's URL: see [RemoteAsset].
//   - the asset type comes from "type" when given, else from the file
//     extension of the upload's name or of the URL's path, case-insensitively:
//     .mp4 .mov .webm .mkv video; .png .jpg .jpeg .webp .gif image;
//     .mp3 .wav .m4a .aac .ogg .flac audio; .vidova screen_recording.
//     A given type wins over the extension. No type and no known extension
//     is an error naming the upload or URL.
//   - "analyze" is allowed only on screen recordings; each analyzed
//     recording is charged one screen_recording_analysis.
type Job struct {
	Pipeline     Pipeline      `json:"pipeline"`
	Prompt       string        `json:"prompt,omitempty"`
	Uploads      []Upload      `json:"uploads,omitempty"`
	RemoteAssets []RemoteAsset `json:"remote_assets,omitempty"`
}

// Upload is a file uploaded with a job, charged as an upload of its type.
// Type may be left zero when Name has a known extension (see [Job]).
type Upload struct {
	Name    string    `json:"name"`
	Type    AssetType `json:"type,omitempty"`
	Analyze bool      `json:"analyze,omitempty"` // screen recordings only: also run the analysis pipeline
}

// RemoteAsset is a file a job imports from a URL. It is charged as an
// upload of its type; Type may be left zero when the URL's path has a known
// extension (see [Job]).
//
// The URL must be http or https, at most [MaxAssetURLLen] bytes of
// printable ASCII (percent-encode anything else; the characters
// " < > \ ^ ` { | } must be percent-encoded too), with a host (a name of
// letters, digits, - . _ ~, or a bracketed IPv6 address), no user
// credentials, a numeric port if any, and well-formed %XX escapes.
//
// The same URL listed twice in one job is imported, and charged, once.
// Two URLs are the same when they are equal after lower-casing the scheme
// and host and dropping the fragment (#...); nothing else is normalized
// (a port, a trailing slash, a query or a percent-escape makes them
// differ). Both entries must then agree on the asset type, and the
// recording is analyzed (and charged for analysis) once if either asks.
type RemoteAsset struct {
	URL     string    `json:"url"`
	Type    AssetType `json:"type,omitempty"`
	Analyze bool      `json:"analyze,omitempty"` // screen recordings only: also run the analysis pipeline
}

// Estimate is the price of a job: the total, and one line per action
// charged. Its JSON form is
//
//	{"pipeline": "prompt_to_mp4", "price_version": "v1", "total": 26,
//	 "lines": [{"action": "upload_video", "quantity": 2, "unit_price": 5, "subtotal": 10}, ...]}
//
// with amounts as exact JSON numbers.
type Estimate struct {
	Pipeline     Pipeline       `json:"pipeline"`
	PriceVersion string         `json:"price_version"` // the table the job was priced with; charge with the same one
	Total        Credits        `json:"total"`
	Lines        []EstimateLine `json:"lines"`
}

// EstimateLine is one action of an [Estimate]: Quantity units at UnitPrice.
type EstimateLine struct {
	Action    Action  `json:"action"`
	Quantity  int64   `json:"quantity"`
	UnitPrice Credits `json:"unit_price"`
	Subtotal  Credits `json:"subtotal"` // UnitPrice × Quantity
}

// EstimateJob prices job with table t. The lines come in a fixed order:
// upload_video, upload_image, upload_audio, screen_recording_upload (each
// counting uploads and distinct remote assets of that type), then
// screen_recording_analysis, public_api_ai_creation (prompt_to_mp4 only)
// and render (always 1). An action with quantity 0 has no line; an action
// that is used but free (upload_image at 0) does, so the user sees why it
// cost nothing. Total is the sum of the subtotals.
//
// The job is validated first (see [Job]); a bad job is an [*InputError]
// naming the field at fault ("remote_assets[3].url") and gets no estimate.
// A total that does not fit in [Credits] is an error wrapping [ErrOverflow].
//
// EstimateJob is pure and cheap enough to call on every request: for jobs
// of up to 64 remote assets it makes one allocation (the lines) and parses
// no URL with net/url; larger jobs use a map to find duplicate URLs.
func (t *PriceTable) EstimateJob(job Job) (Estimate, error) {
	var q [numActions]int64
	if err := job.tally(&q); err != nil {
		return Estimate{}, err
	}
	order := [...]Action{UploadVideo, UploadImage, UploadAudio, ScreenRecordingUpload,
		ScreenRecordingAnalysis, PublicAPIAICreation, Render}
	n := 0
	for _, a := range order {
		if q[a] > 0 {
			n++
		}
	}
	est := Estimate{Pipeline: job.Pipeline, PriceVersion: t.version, Lines: make([]EstimateLine, 0, n)}
	for _, a := range order {
		if q[a] == 0 {
			continue
		}
		sub, err := t.prices[a].Mul(q[a])
		if err != nil {
			return Estimate{}, fmt.Errorf("credits: estimate %d × %s: %w", q[a], a, ErrOverflow)
		}
		if est.Total, err = est.Total.Add(sub); err != nil {
			return Estimate{}, fmt.Errorf("credits: estimate total: %w", ErrOverflow)
		}
		est.Lines = append(est.Lines, EstimateLine{Action: a, Quantity: q[a], UnitPrice: t.prices[a], Subtotal: sub})
	}
	return est, nil
}

// Validate checks job against every rule listed on [Job] without pricing
// it. It returns nil or an [*InputError] naming the field at fault.
func (job Job) Validate() error {
	var q [numActions]int64
	return job.tally(&q)
}

// dedupeInline is the number of remote assets up to which duplicate URLs
// are found by comparing each with the earlier ones (no allocation);
// beyond it a map is used.
const dedupeInline = 64

// seenAsset is the first occurrence of a remote asset URL in a job. It
// holds no pointers, so the inline array of them is cheap to clear and fill.
type seenAsset struct {
	parts    asseturl.Parts
	index    int32 // in Job.RemoteAssets
	typ      AssetType
	analyzed bool
}

// tally validates job and adds the quantity of every action it uses to q.
func (job *Job) tally(q *[numActions]int64) error {
	if len(job.Prompt) > MaxPromptLen {
		return inputErr("prompt", "", fmt.Sprintf("%d bytes: longer than %d bytes", len(job.Prompt), MaxPromptLen))
	}
	switch job.Pipeline {
	case PromptToMP4:
		if strings.TrimSpace(job.Prompt) == "" {
			return inputErr("prompt", "", "required for prompt_to_mp4")
		}
		q[PublicAPIAICreation]++
	case JSONToMP4:
	case 0:
		return inputErr("pipeline", "", "required (prompt_to_mp4 or json_to_mp4)")
	default:
		return inputErr("pipeline", job.Pipeline.String(), pipelineEnum.unknown)
	}
	q[Render]++
	if n := len(job.Uploads) + len(job.RemoteAssets); n > MaxJobAssets {
		field := "remote_assets"
		if len(job.Uploads) > MaxJobAssets {
			field = "uploads"
		}
		return inputErr(field, "", fmt.Sprintf("%d uploads and remote assets: at most %d per job", n, MaxJobAssets))
	}

	for i := range job.Uploads {
		u := &job.Uploads[i]
		if u.Name == "" {
			return inputErr(indexed("uploads", i, "name"), "", "required")
		}
		if len(u.Name) > MaxUploadNameLen {
			return inputErr(indexed("uploads", i, "name"), u.Name, fmt.Sprintf("longer than %d bytes", MaxUploadNameLen))
		}
		for j := 0; j < len(u.Name); j++ {
			if c := u.Name[j]; c < ' ' || c == 0x7f {
				return inputErr(indexed("uploads", i, "name"), u.Name, "contains a control character")
			}
		}
		typ, err := assetTypeOf(u.Type, u.Name, u.Analyze, "uploads", i, "name", u.Name)
		if err != nil {
			return err
		}
		q[typ.UploadAction()]++
		if u.Analyze {
			q[ScreenRecordingAnalysis]++
		}
	}

	var inline [dedupeInline]seenAsset
	seen := inline[:0]
	var byHash map[uint64]int // URL hash -> index into seen, for jobs with many remote assets
	if len(job.RemoteAssets) > dedupeInline {
		seen = make([]seenAsset, 0, len(job.RemoteAssets))
		byHash = make(map[uint64]int, len(job.RemoteAssets))
	}
	for i := range job.RemoteAssets {
		ra := &job.RemoteAssets[i]
		parts, reason := asseturl.Parse(ra.URL, MaxAssetURLLen)
		if reason != "" {
			return inputErr(indexed("remote_assets", i, "url"), ra.URL, reason)
		}
		typ, err := assetTypeOf(ra.Type, parts.Path(ra.URL), ra.Analyze, "remote_assets", i, "url", ra.URL)
		if err != nil {
			return err
		}
		first := -1
		scan := byHash == nil
		if !scan {
			h := parts.Hash(ra.URL)
			if j, ok := byHash[h]; !ok {
				byHash[h] = len(seen)
			} else if asseturl.Same(job.RemoteAssets[seen[j].index].URL, seen[j].parts, ra.URL, parts) {
				first = j
			} else {
				scan = true // a hash collision: look the slow way
			}
		}
		if scan {
			for j := range seen {
				if asseturl.Same(job.RemoteAssets[seen[j].index].URL, seen[j].parts, ra.URL, parts) {
					first = j
					break
				}
			}
		}
		if first >= 0 {
			f := &seen[first]
			if f.typ != typ {
				return inputErr(indexed("remote_assets", i, "type"), typ.String(),
					fmt.Sprintf("same URL as remote_assets[%d], which is %s", f.index, f.typ))
			}
			if ra.Analyze && !f.analyzed {
				f.analyzed = true
				q[ScreenRecordingAnalysis]++
			}
			continue
		}
		seen = append(seen, seenAsset{parts: parts, index: int32(i), typ: typ, analyzed: ra.Analyze})
		q[typ.UploadAction()]++
		if ra.Analyze {
			q[ScreenRecordingAnalysis]++
		}
	}
	return nil
}

// indexed returns "list[i].field" (only on error paths: it allocates).
func indexed(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

// assetTypeOf decides an asset's type: the given one, else the one of the
// extension of path (a file name or a URL's path); and checks that only
// screen recordings ask for analysis. list, i, nameField and name identify
// the asset in errors.
func assetTypeOf(given AssetType, path string, analyze bool, list string, i int, nameField, name string) (AssetType, error) {
	typ := given
	switch {
	case typ == 0:
		typ = assetTypeOfExt(extOfName(path))
		if typ == 0 {
			return 0, inputErr(indexed(list, i, nameField), name,
				"no type given and no known file extension (give \"type\": video, image, audio or screen_recording)")
		}
	case !typ.Valid():
		return 0, inputErr(indexed(list, i, "type"), typ.String(), assetTypeEnum.unknown)
	}
	if analyze && typ != AssetScreenRecording {
		return 0, inputErr(indexed(list, i, "analyze"), "", "only screen recordings can be analyzed (this is "+typ.String()+")")
	}
	return typ, nil
}

// extOfName returns the extension (without the dot) of the last segment of
// a file name or URL path ('/' or '\\' separated), or "".
func extOfName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		switch name[i] {
		case '.':
			return name[i+1:]
		case '/', '\\':
			return ""
		}
	}
	return ""
}

// assetTypeOfExt maps a file extension, case-insensitively, to its asset
// type, or 0. It does not allocate.
func assetTypeOfExt(ext string) AssetType {
	var buf [6]byte
	if len(ext) < 3 || len(ext) > len(buf) {
		return 0
	}
	for i := 0; i < len(ext); i++ {
		c := ext[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(ext)]) {
	case "mp4", "mov", "webm", "mkv":
		return AssetVideo
	case "png", "jpg", "jpeg", "webp", "gif":
		return AssetImage
	case "mp3", "wav", "m4a", "aac", "ogg", "flac":
		return AssetAudio
	case "vidova":
		return AssetScreenRecording
	}
	return 0
}

// DecodeJob reads one job in the JSON form documented on [Job], strictly:
// unknown or duplicate fields, values of the wrong type, unknown names,
// malformed JSON, data after the job and documents over [MaxJobSize] bytes
// are [*InputError]s naming the field at fault, such as
// "remote_assets[3].type". A null value counts as the field left out, and
// so does an empty "type". The decoded job is then validated as
// [Job.Validate] does, so a job DecodeJob returns can be estimated.
// Errors reading r are returned wrapped, as they are.
func DecodeJob(r io.Reader) (Job, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxJobSize+1))
	if err != nil {
		return Job{}, fmt.Errorf("credits: read job: %w", err)
	}
	if len(data) > MaxJobSize {
		return Job{}, inputErr("job", "", fmt.Sprintf("larger than %d bytes", MaxJobSize))
	}
	return decodeJob(data)
}

// UnmarshalJSON decodes and validates a job as [DecodeJob] does (without
// its size limit), so a Job inside a larger request is just as strict. As
// with encoding/json's own types, a JSON null leaves job unchanged.
func (job *Job) UnmarshalJSON(data []byte) error {
	if strictjson.IsNull(data) {
		return nil
	}
	j, err := decodeJob(data)
	if err != nil {
		return err
	}
	*job = j
	return nil
}

// decodeJob reads and validates one job document.
func decodeJob(data []byte) (Job, error) {
	r := strictjson.New(data, "job", inputErr)
	var j Job
	count := 0
	countAsset := func(path string) error {
		if count++; count > MaxJobAssets {
			return inputErr(path, "", fmt.Sprintf("too many assets: at most %d uploads and remote assets per job", MaxJobAssets))
		}
		return nil
	}
	assetType := func(path string) (AssetType, error) {
		s, err := r.Str(path, true)
		if err != nil || s == "" {
			return 0, err
		}
		return assetTypeEnum.parseField(path, s)
	}
	err := r.Object("", func(key, path string) error {
		switch key {
		case "pipeline":
			s, err := r.Str(path, true)
			if err != nil || s == "" {
				return err
			}
			if j.Pipeline, err = pipelineEnum.parseField(path, s); err != nil {
				return err
			}
		case "prompt":
			s, err := r.Str(path, true)
			if err != nil {
				return err
			}
			j.Prompt = s
		case "uploads":
			_, err := r.Array(path, true, func(i int, path string) error {
				if err := countAsset(path); err != nil {
					return err
				}
				var u Upload
				err := r.Object(path, func(key, path string) error {
					var err error
					switch key {
					case "name":
						u.Name, err = r.Str(path, true)
					case "type":
						u.Type, err = assetType(path)
					case "analyze":
						u.Analyze, err = r.Bool(path, true)
					default:
						err = inputErr(path, "", "unknown field")
					}
					return err
				})
				j.Uploads = append(j.Uploads, u)
				return err
			})
			return err
		case "remote_assets":
			_, err := r.Array(path, true, func(i int, path string) error {
				if err := countAsset(path); err != nil {
					return err
				}
				var a RemoteAsset
				err := r.Object(path, func(key, path string) error {
					var err error
					switch key {
					case "url":
						a.URL, err = r.Str(path, true)
					case "type":
						a.Type, err = assetType(path)
					case "analyze":
						a.Analyze, err = r.Bool(path, true)
					default:
						err = inputErr(path, "", "unknown field")
					}
					return err
				})
				j.RemoteAssets = append(j.RemoteAssets, a)
				return err
			})
			return err
		default:
			return inputErr(path, "", "unknown field")
		}
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	if err := r.End(); err != nil {
		return Job{}, err
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}

package credits

import (
	"fmt"
	"strings"
)

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

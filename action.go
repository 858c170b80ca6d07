package credits

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

var actionEnum = newEnum[Action]("Action", "action", "action", actionNames[:], false, false)

// String returns the stable text name of a, such as "chat_message", or
// "Action(n)" for an undefined action.
func (a Action) String() string { return actionEnum.string(a) }

// ParseAction returns the action with the text name s (exactly as
// [Action.String] prints it). An unknown name is an [*InputError] naming
// it and listing the valid names.
func ParseAction(s string) (Action, error) { return actionEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler. An undefined action
// (the zero value included) is an [*InputError].
func (a Action) MarshalText() ([]byte, error) { return actionEnum.marshalText(a) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseAction].
// On error a is left unchanged.
func (a *Action) UnmarshalText(b []byte) error { return actionEnum.unmarshalText(a, b) }

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

var resolutionEnum = newEnum[Resolution]("Resolution", "resolution", "resolution", resolutionNames[:], true, true)

// String returns "720p", "1080p" or "4k"; "" for the zero value.
func (r Resolution) String() string { return resolutionEnum.string(r) }

// ParseResolution reads a resolution name, case-insensitively: "4K" and
// "4k" are the same. An unknown name ("" included) is an [*InputError]
// naming it and listing the valid names; it never falls back to a default.
func ParseResolution(s string) (Resolution, error) { return resolutionEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (r Resolution) MarshalText() ([]byte, error) { return resolutionEnum.marshalText(r) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseResolution].
// On error r is left unchanged.
func (r *Resolution) UnmarshalText(b []byte) error { return resolutionEnum.unmarshalText(r, b) }

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

var assetTypeEnum = newEnum[AssetType]("AssetType", "type", "asset type", assetTypeNames[:], true, true)

// String returns "video", "image", "audio" or "screen_recording"; "" for
// the zero value.
func (t AssetType) String() string { return assetTypeEnum.string(t) }

// UploadAction returns the action an upload of this type is charged as.
func (t AssetType) UploadAction() Action {
	if !t.Valid() {
		return 0
	}
	return assetUploadAction[t]
}

// ParseAssetType reads an asset type name, case-insensitively. An unknown
// name ("" included) is an [*InputError] naming it and listing the valid
// names.
func ParseAssetType(s string) (AssetType, error) { return assetTypeEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (t AssetType) MarshalText() ([]byte, error) { return assetTypeEnum.marshalText(t) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseAssetType].
// On error t is left unchanged.
func (t *AssetType) UnmarshalText(b []byte) error { return assetTypeEnum.unmarshalText(t, b) }

package main

// The payload structs of Coze Studio's three topics, declared here with the
// same Go field names, types, order and JSON tags as Coze's own (backend/
// domain/knowledge/entity, crossdomain/knowledge/model, infra/document,
// domain/search/entity, crossdomain/search/model), so encoding/json reads and
// writes exactly the JSON Coze's services do.

import (
	"strings"
	"time"
)

type info struct {
	ID          int64
	Name        string
	Description string
	IconURI     string
	IconURL     string
	CreatorID   int64
	SpaceID     int64
	AppID       int64
	CreatedAtMs int64
	UpdatedAtMs int64
	DeletedAtMs int64
}

type parsingStrategy struct {
	ParsingType   int64  `json:"parsing_type"`
	ExtractImage  bool   `json:"extract_image"`
	ExtractTable  bool   `json:"extract_table"`
	ImageOCR      bool   `json:"image_ocr"`
	FilterPages   []int  `json:"filter_pages"`
	SheetID       int64  `json:"sheet_id"`
	HeaderLine    int    `json:"header_line"`
	DataStartLine int    `json:"data_start_line"`
	RowsCount     int    `json:"rows_count"`
	CaptionType   *int64 `json:"caption_type"`
}

type chunkingStrategy struct {
	ChunkType       int64  `json:"chunk_type"`
	ChunkSize       int64  `json:"chunk_size"`
	Separator       string `json:"separator"`
	Overlap         int64  `json:"overlap"`
	TrimSpace       bool   `json:"trim_space"`
	TrimURLAndEmail bool   `json:"trim_url_and_email"`
	MaxDepth        int64  `json:"max_depth"`
	SaveTitle       bool   `json:"save_title"`
}

type tableColumn struct {
	ID          int64
	Name        string
	Type        int
	Description string
	Indexing    bool
	Sequence    int64
}

type tableInfo struct {
	VirtualTableName  string         `json:"virtual_table_name"`
	PhysicalTableName string         `json:"physical_table_name"`
	TableDesc         string         `json:"table_desc"`
	Columns           []*tableColumn `json:"columns"`
}

type document struct {
	info

	KnowledgeID      int64
	Type             int64
	RawContent       string
	URI              string
	URL              string
	Size             int64
	SliceCount       int64
	CharCount        int64
	FileExtension    string
	Status           int64
	StatusMsg        string
	Hits             int64
	Source           int64
	ParsingStrategy  *parsingStrategy
	ChunkingStrategy *chunkingStrategy

	TableInfo tableInfo
	IsAppend  bool
}

type columnData struct {
	ColumnID   int64
	ColumnName string
	Type       int
	ValString  *string
	ValInteger *int64
	ValTime    *time.Time
	ValNumber  *float64
	ValBoolean *bool
	ValImage   *string
}

type sliceImage struct {
	Base64  []byte
	URI     string
	OCR     bool
	OCRText *string
}

type sliceTable struct {
	Columns []*columnData
}

type sliceContent struct {
	Type  int64
	Text  *string
	Image *sliceImage
	Table *sliceTable
}

type slice struct {
	info

	KnowledgeID  int64
	DocumentID   int64
	DocumentName string
	RawContent   []*sliceContent
	SliceStatus  int64
	ByteCount    int64
	CharCount    int64
	Sequence     int64
	Hit          int64
	Extra        map[string]string
}

type review struct {
	ReviewID      *int64
	DocumentName  string
	DocumentType  string
	Uri           string
	Url           string
	Status        *int64
	DocTreeTosUrl *string
	PreviewTosUrl *string
}

type knowledgeEvent struct {
	Type string

	Documents      []*document
	Document       *document
	Slice          *slice
	SliceIDs       []int64
	KnowledgeID    int64
	DocumentReview *review
}

type eventMeta struct {
	SendTimeMs    int64 `json:"send_time_ms"`
	ReceiveTimeMs int64 `json:"receive_time_ms"`
}

type resourceDocument struct {
	ResID         int64   `json:"res_id"`
	ResType       int64   `json:"res_type"`
	ResSubType    *int32  `json:"res_sub_type,omitempty"`
	Name          *string `json:"name,omitempty"`
	OwnerID       *int64  `json:"owner_id,omitempty"`
	SpaceID       *int64  `json:"space_id,omitempty"`
	APPID         *int64  `json:"app_id,omitempty"`
	BizStatus     *int64  `json:"biz_status,omitempty"`
	PublishStatus *int64  `json:"publish_status,omitempty"`
	CreateTimeMS  *int64  `json:"create_time,omitempty"`
	UpdateTimeMS  *int64  `json:"update_time,omitempty"`
	PublishTimeMS *int64  `json:"publish_time,omitempty"`
}

type resourceEvent struct {
	OpType   string            `json:"op_type"`
	Resource *resourceDocument `json:"resource_document,omitempty"`
	Meta     *eventMeta        `json:"meta,omitempty"`
	Extra    map[string]any    `json:"extra"`
}

type projectDocument struct {
	ID             int64   `json:"id"`
	Type           int64   `json:"type"`
	Status         int64   `json:"status,omitempty"`
	Name           *string `json:"name,omitempty"`
	SpaceID        *int64  `json:"space_id,omitempty"`
	OwnerID        *int64  `json:"owner_id,omitempty"`
	HasPublished   *int    `json:"has_published,omitempty"`
	CreateTimeMS   *int64  `json:"create_time,omitempty"`
	UpdateTimeMS   *int64  `json:"update_time,omitempty"`
	PublishTimeMS  *int64  `json:"publish_time,omitempty"`
	RecentlyOpenMS *int64  `json:"recently_open_time,omitempty"`
	FavTimeMS      *int64  `json:"fav_time,omitempty"`
	IsFav          *int    `json:"is_fav,omitempty"`
	IsRecentlyOpen *int    `json:"is_recently_open,omitempty"`
}

type projectEvent struct {
	OpType  string           `json:"op_type"`
	Project *projectDocument `json:"project_document,omitempty"`
	Meta    *eventMeta       `json:"meta,omitempty"`
	Extra   map[string]any   `json:"extra"`
}

// payloadFor returns a fresh struct of the topic's payload type. A test's
// own topic (`opencoze_knowledge_t1`) carries its prefix's payload.
func payloadFor(topic string) any {
	switch {
	case strings.HasPrefix(topic, "opencoze_knowledge"):
		return &knowledgeEvent{}
	case strings.HasPrefix(topic, "opencoze_search_resource"):
		return &resourceEvent{}
	case strings.HasPrefix(topic, "opencoze_search_app"):
		return &projectEvent{}
	}
	return nil
}

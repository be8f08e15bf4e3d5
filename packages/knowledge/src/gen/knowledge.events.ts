// generated — do not edit. Made by @cozebus/codegen from coze/knowledge/v1/knowledge.proto; change the schema and run "npm run codegen".
import { defineDomain } from "@cozebus/core";
import { DeleteKnowledgeDataRequested, DocumentIndexFailed, DocumentIndexed, DocumentReviewRequested, GetDocumentStatusReply, GetDocumentStatusRequest, IndexDocumentRequested, IndexDocumentsRequested, IndexSliceRequested } from "./coze/knowledge/v1/knowledge.js";

/** Every event and request/reply operation of the knowledge domain (coze.knowledge.v1). */
export const knowledgeDomain = defineDomain({
  name: "knowledge",
  events: {
    /** A batch of documents to index: fans out into one IndexDocumentRequested per document. */
    indexDocumentsRequested: {
      type: "coze.knowledge.v1.IndexDocumentsRequested",
      subject: "coze.knowledge.{knowledge_id}.index_documents_requested",
      fields: { knowledge_id: "knowledgeId" },
      qos: "at-least-once",
      codec: IndexDocumentsRequested,
      description: "A batch of documents to index: fans out into one IndexDocumentRequested per document.",
    },
    /** One document to index. */
    indexDocumentRequested: {
      type: "coze.knowledge.v1.IndexDocumentRequested",
      subject: "coze.knowledge.{knowledge_id}.document.{document_id}.index_requested",
      fields: { knowledge_id: "knowledgeId", document_id: "documentId" },
      qos: "at-least-once",
      codec: IndexDocumentRequested,
      description: "One document to index.",
    },
    /** One slice of a document to (re-)embed. */
    indexSliceRequested: {
      type: "coze.knowledge.v1.IndexSliceRequested",
      subject: "coze.knowledge.{knowledge_id}.document.{document_id}.slice_index_requested",
      fields: { knowledge_id: "knowledgeId", document_id: "documentId" },
      qos: "at-least-once",
      codec: IndexSliceRequested,
      description: "One slice of a document to (re-)embed.",
    },
    /** Delete a knowledge base's data (vectors, slices, files). */
    deleteKnowledgeDataRequested: {
      type: "coze.knowledge.v1.DeleteKnowledgeDataRequested",
      subject: "coze.knowledge.{knowledge_id}.delete_data_requested",
      fields: { knowledge_id: "knowledgeId" },
      qos: "at-least-once",
      codec: DeleteKnowledgeDataRequested,
      description: "Delete a knowledge base's data (vectors, slices, files).",
    },
    /** Review a document's slicing before indexing. */
    documentReviewRequested: {
      type: "coze.knowledge.v1.DocumentReviewRequested",
      subject: "coze.knowledge.{knowledge_id}.document.{document_id}.review_requested",
      fields: { knowledge_id: "knowledgeId", document_id: "documentId" },
      qos: "at-least-once",
      codec: DocumentReviewRequested,
      description: "Review a document's slicing before indexing.",
    },
    /** A document was indexed and is searchable. */
    documentIndexed: {
      type: "coze.knowledge.v1.DocumentIndexed",
      subject: "coze.knowledge.{knowledge_id}.document.{document_id}.indexed",
      fields: { knowledge_id: "knowledgeId", document_id: "documentId" },
      qos: "at-least-once",
      codec: DocumentIndexed,
      description: "A document was indexed and is searchable.",
    },
    /** Indexing a document failed. */
    documentIndexFailed: {
      type: "coze.knowledge.v1.DocumentIndexFailed",
      subject: "coze.knowledge.{knowledge_id}.document.{document_id}.index_failed",
      fields: { knowledge_id: "knowledgeId", document_id: "documentId" },
      qos: "at-least-once",
      codec: DocumentIndexFailed,
      description: "Indexing a document failed.",
    },
  },
  operations: {
    /** Returns a document's indexing status. */
    getDocumentStatus: {
      subject: "coze.knowledge.{knowledge_id}.document.{document_id}.get_status",
      fields: { knowledge_id: "knowledgeId", document_id: "documentId" },
      timeoutMs: 2000,
      requestType: "coze.knowledge.v1.GetDocumentStatusRequest",
      replyType: "coze.knowledge.v1.GetDocumentStatusReply",
      request: GetDocumentStatusRequest,
      reply: GetDocumentStatusReply,
      description: "Returns a document's indexing status.",
    },
  },
});

// generated — do not edit. Made by @cozebus/codegen from coze/workflow/v1/workflow.proto; change the schema and run "npm run codegen".
import { defineDomain } from "@cozebus/core";
import { CancelExecutionReply, CancelExecutionRequest, GetExecutionStatusReply, GetExecutionStatusRequest, NodeCompleted, NodeFailed, NodeStarted, WorkflowCreated, WorkflowDeleted, WorkflowExecutionCancelled, WorkflowExecutionCompleted, WorkflowExecutionFailed, WorkflowExecutionInterrupted, WorkflowExecutionResumed, WorkflowExecutionStarted, WorkflowPublished, WorkflowUpdated } from "./coze/workflow/v1/workflow.js";

/** Every event and request/reply operation of the workflow domain (coze.workflow.v1). */
export const workflowDomain = defineDomain({
  name: "workflow",
  events: {
    /** A workflow execution started. */
    executionStarted: {
      type: "coze.workflow.v1.WorkflowExecutionStarted",
      subject: "coze.workflow.{workflow_id}.started",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowExecutionStarted,
      description: "A workflow execution started.",
    },
    /** A node started running. */
    nodeStarted: {
      type: "coze.workflow.v1.NodeStarted",
      subject: "coze.workflow.{workflow_id}.node_started",
      fields: { workflow_id: "workflowId" },
      qos: "at-most-once",
      codec: NodeStarted,
      description: "A node started running.",
    },
    /** A node finished successfully. */
    nodeCompleted: {
      type: "coze.workflow.v1.NodeCompleted",
      subject: "coze.workflow.{workflow_id}.node_completed",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: NodeCompleted,
      description: "A node finished successfully.",
    },
    /** A node failed. */
    nodeFailed: {
      type: "coze.workflow.v1.NodeFailed",
      subject: "coze.workflow.{workflow_id}.node_failed",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: NodeFailed,
      description: "A node failed.",
    },
    /** The execution stopped to wait for a user's input. */
    executionInterrupted: {
      type: "coze.workflow.v1.WorkflowExecutionInterrupted",
      subject: "coze.workflow.{workflow_id}.interrupted",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowExecutionInterrupted,
      description: "The execution stopped to wait for a user's input.",
    },
    /** The execution resumed with the user's input. */
    executionResumed: {
      type: "coze.workflow.v1.WorkflowExecutionResumed",
      subject: "coze.workflow.{workflow_id}.resumed",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowExecutionResumed,
      description: "The execution resumed with the user's input.",
    },
    /** The execution finished successfully. */
    executionCompleted: {
      type: "coze.workflow.v1.WorkflowExecutionCompleted",
      subject: "coze.workflow.{workflow_id}.completed",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowExecutionCompleted,
      description: "The execution finished successfully.",
    },
    /** The execution failed. */
    executionFailed: {
      type: "coze.workflow.v1.WorkflowExecutionFailed",
      subject: "coze.workflow.{workflow_id}.failed",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowExecutionFailed,
      description: "The execution failed.",
    },
    /** The execution was cancelled. */
    executionCancelled: {
      type: "coze.workflow.v1.WorkflowExecutionCancelled",
      subject: "coze.workflow.{workflow_id}.cancelled",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowExecutionCancelled,
      description: "The execution was cancelled.",
    },
    /** A workflow was created. */
    created: {
      type: "coze.workflow.v1.WorkflowCreated",
      subject: "coze.workflow.{workflow_id}.created",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowCreated,
      description: "A workflow was created.",
    },
    /** A workflow's draft was updated. */
    updated: {
      type: "coze.workflow.v1.WorkflowUpdated",
      subject: "coze.workflow.{workflow_id}.updated",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowUpdated,
      description: "A workflow's draft was updated.",
    },
    /** A workflow version was published. */
    published: {
      type: "coze.workflow.v1.WorkflowPublished",
      subject: "coze.workflow.{workflow_id}.published",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowPublished,
      description: "A workflow version was published.",
    },
    /** A workflow was deleted. */
    deleted: {
      type: "coze.workflow.v1.WorkflowDeleted",
      subject: "coze.workflow.{workflow_id}.deleted",
      fields: { workflow_id: "workflowId" },
      qos: "at-least-once",
      codec: WorkflowDeleted,
      description: "A workflow was deleted.",
    },
  },
  operations: {
    /** Cancels a running execution. */
    cancelExecution: {
      subject: "coze.workflow.{workflow_id}.cancel",
      fields: { workflow_id: "workflowId" },
      timeoutMs: 5000,
      requestType: "coze.workflow.v1.CancelExecutionRequest",
      replyType: "coze.workflow.v1.CancelExecutionReply",
      request: CancelExecutionRequest,
      reply: CancelExecutionReply,
      description: "Cancels a running execution.",
    },
    /** Returns an execution's status. */
    getExecutionStatus: {
      subject: "coze.workflow.{workflow_id}.get_status",
      fields: { workflow_id: "workflowId" },
      timeoutMs: 2000,
      requestType: "coze.workflow.v1.GetExecutionStatusRequest",
      replyType: "coze.workflow.v1.GetExecutionStatusReply",
      request: GetExecutionStatusRequest,
      reply: GetExecutionStatusReply,
      description: "Returns an execution's status.",
    },
  },
});

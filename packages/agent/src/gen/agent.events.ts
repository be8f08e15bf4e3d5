// generated — do not edit. Made by @cozebus/codegen from coze/agent/v1/agent.proto; change the schema and run "npm run codegen".
import { defineDomain } from "@cozebus/core";
import { AgentCreated, AgentDeleted, AgentPublished, AgentRunCompleted, AgentRunFailed, AgentRunStarted, AgentUpdated, CancelRunReply, CancelRunRequest, MessageCreated, RunTurnReply, RunTurnRequest } from "./coze/agent/v1/agent.js";

/** Every event and request/reply operation of the agent domain (coze.agent.v1). */
export const agentDomain = defineDomain({
  name: "agent",
  events: {
    /** An agent was created. */
    created: {
      type: "coze.agent.v1.AgentCreated",
      subject: "coze.agent.{agent_id}.created",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentCreated,
      description: "An agent was created.",
    },
    /** An agent's draft was updated. */
    updated: {
      type: "coze.agent.v1.AgentUpdated",
      subject: "coze.agent.{agent_id}.updated",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentUpdated,
      description: "An agent's draft was updated.",
    },
    /** An agent version was published. */
    published: {
      type: "coze.agent.v1.AgentPublished",
      subject: "coze.agent.{agent_id}.published",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentPublished,
      description: "An agent version was published.",
    },
    /** An agent was deleted. */
    deleted: {
      type: "coze.agent.v1.AgentDeleted",
      subject: "coze.agent.{agent_id}.deleted",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentDeleted,
      description: "An agent was deleted.",
    },
    /** An agent started a run (one answer to one user message). */
    runStarted: {
      type: "coze.agent.v1.AgentRunStarted",
      subject: "coze.agent.{agent_id}.run_started",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentRunStarted,
      description: "An agent started a run (one answer to one user message).",
    },
    /** A run finished. */
    runCompleted: {
      type: "coze.agent.v1.AgentRunCompleted",
      subject: "coze.agent.{agent_id}.run_completed",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentRunCompleted,
      description: "A run finished.",
    },
    /** A run failed. */
    runFailed: {
      type: "coze.agent.v1.AgentRunFailed",
      subject: "coze.agent.{agent_id}.run_failed",
      fields: { agent_id: "agentId" },
      qos: "at-least-once",
      codec: AgentRunFailed,
      description: "A run failed.",
    },
    /** A message was added to a conversation. */
    messageCreated: {
      type: "coze.agent.v1.MessageCreated",
      subject: "coze.agent.{agent_id}.message_created",
      fields: { agent_id: "agentId" },
      qos: "at-most-once",
      codec: MessageCreated,
      description: "A message was added to a conversation.",
    },
  },
  operations: {
    /** Runs one conversation turn and returns the answer. */
    runTurn: {
      subject: "coze.agent.{agent_id}.run_turn",
      fields: { agent_id: "agentId" },
      timeoutMs: 30000,
      requestType: "coze.agent.v1.RunTurnRequest",
      replyType: "coze.agent.v1.RunTurnReply",
      request: RunTurnRequest,
      reply: RunTurnReply,
      description: "Runs one conversation turn and returns the answer.",
    },
    /** Cancels a run. */
    cancelRun: {
      subject: "coze.agent.{agent_id}.cancel_run",
      fields: { agent_id: "agentId" },
      timeoutMs: 5000,
      requestType: "coze.agent.v1.CancelRunRequest",
      replyType: "coze.agent.v1.CancelRunReply",
      request: CancelRunRequest,
      reply: CancelRunReply,
      description: "Cancels a run.",
    },
  },
});

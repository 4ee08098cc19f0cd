/**
 * The OpenAPI 3 description served at `/api/openapi.json`. It describes what the code
 * does (201 for `/job`, which the Go gateway's spec gave as 200; `/connection/disconnect`,
 * which it left out).
 */
const error = { $ref: '#/components/responses/Error' };
const nodeRequest = {
  required: true,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/NodeRequest' } } },
};
const auth = [{ identity: [] }, { pskClient: [], pskAccount: [], psk: [] }];

function json(description: string, schema: unknown) {
  return { description, content: { 'application/json': { schema } } };
}

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'bosun receptor gateway',
    version: '1.0.0',
    description:
      'Sends work to receptor nodes connected over websockets and records their replies. ' +
      'Compatible with the receptor-controller API. Account numbers compare as numbers ("01" is "0000001"). ' +
      "`/job`, `/connection/disconnect` and `/connection/{account}` for an account other than the caller's answer 403; " +
      "`/connection/status` and `/connection/ping` answer as for a node that is not connected. " +
      'Jobs may also be published on the NATS subject `platform.receptor-controller.jobs` with the same body, ' +
      'and replies are also on the JetStream stream `RECEPTOR_CONTROLLER_RESPONSES` (subject `platform.receptor-controller.responses`) when NATS is configured.',
  },
  security: auth,
  paths: {
    '/job': {
      post: {
        summary: 'Send a directive to a connected node',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/JobRequest' } } } },
        responses: {
          '201': json('Sent; replies arrive on the responses stream keyed by this id', {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string', format: 'uuid' } },
          }),
          '400': error,
          '401': error,
          '403': error,
          '404': error,
          '413': error,
          '500': error,
        },
      },
    },
    '/connection': {
      get: {
        summary: "The caller's account and its connected nodes",
        responses: {
          '200': json('Connections by account', {
            type: 'object',
            properties: {
              connections: {
                type: 'array',
                items: { type: 'object', properties: { account: { type: 'string' }, connections: { type: 'array', items: { type: 'string' } } } },
              },
            },
          }),
          '401': error,
        },
      },
    },
    '/connection/{account}': {
      get: {
        summary: "An account's connected nodes",
        parameters: [{ name: 'account', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': json('Node ids', { type: 'object', properties: { connections: { type: 'array', items: { type: 'string' } } } }),
          '401': error,
          '403': error,
        },
      },
    },
    '/connection/status': {
      post: {
        summary: "A node's connection status and the capabilities from its handshake",
        requestBody: nodeRequest,
        responses: {
          '200': json("Status; `disconnected` with `capabilities: null` for a node of another account than the caller's", {
            type: 'object',
            properties: { status: { type: 'string', enum: ['connected', 'disconnected'] }, capabilities: { type: 'object', nullable: true } },
          }),
          '400': error,
          '401': error,
        },
      },
    },
    '/connection/ping': {
      post: {
        summary: 'Ping a node through the receptor protocol and wait for its reply',
        requestBody: nodeRequest,
        responses: {
          '200': json("The reply, or `payload: null` when the node is not connected or belongs to another account than the caller's", {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['connected', 'disconnected'] },
              payload: { allOf: [{ $ref: '#/components/schemas/Response' }], nullable: true },
            },
          }),
          '400': error,
          '401': error,
        },
      },
    },
    '/connection/disconnect': {
      post: {
        summary: "Close a node's websocket",
        requestBody: nodeRequest,
        responses: { '200': json('Closed', { type: 'object' }), '400': error, '401': error, '403': error },
      },
    },
    '/responses': {
      get: {
        summary: "Replies from the caller's nodes, in arrival order, from a position on",
        description:
          'Long-polls until something arrives after `after` or `timeout` passes. With `Accept: text/event-stream`, ' +
          'streams them as server-sent events (event id = seq; `Last-Event-ID` resumes). ' +
          'Records older than the retention limits are pruned: when some after `after` were, the page says `pruned: true` ' +
          'and the `first` seq still kept, and a stream sends the event `pruned` with data `{"first"}`.',
        parameters: [
          { name: 'after', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          { name: 'timeout', in: 'query', description: 'Seconds to wait when nothing is there yet', schema: { type: 'number', minimum: 0, maximum: 60, default: 20 } },
        ],
        responses: {
          '200': json('A page; read after `last` next', {
            type: 'object',
            properties: {
              responses: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { seq: { type: 'integer' }, key: { type: 'string' }, value: { $ref: '#/components/schemas/Response' } },
                },
              },
              last: { type: 'integer' },
              pruned: { type: 'boolean', description: 'Present (true) when records after `after` were pruned before this read' },
              first: { type: 'integer', description: 'With `pruned`: the first seq the log still keeps' },
            },
          }),
          '400': error,
          '401': error,
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Text exposition format' } } } },
    '/liveness': { get: { summary: 'Liveness probe', security: [], responses: { '200': { description: 'Alive' } } } },
    '/readiness': { get: { summary: 'Readiness probe', security: [], responses: { '200': { description: 'Ready' }, '503': { description: 'Stopping' } } } },
  },
  components: {
    securitySchemes: {
      identity: { type: 'apiKey', in: 'header', name: 'x-rh-identity' },
      pskClient: { type: 'apiKey', in: 'header', name: 'x-rh-receptor-controller-client-id' },
      pskAccount: { type: 'apiKey', in: 'header', name: 'x-rh-receptor-controller-account' },
      psk: { type: 'apiKey', in: 'header', name: 'x-rh-receptor-controller-psk' },
    },
    responses: {
      Error: json('An error', {
        type: 'object',
        required: ['title', 'status', 'detail'],
        properties: { title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
      }),
    },
    schemas: {
      JobRequest: {
        type: 'object',
        required: ['account', 'recipient', 'payload', 'directive'],
        properties: {
          account: { type: 'string' },
          recipient: { type: 'string', description: 'Node id' },
          payload: { description: 'Any JSON value, handed to the plugin as is' },
          directive: { type: 'string', example: 'workername:action', pattern: '^[^:]+:.+$' },
        },
      },
      NodeRequest: {
        type: 'object',
        required: ['account', 'node_id'],
        properties: { account: { type: 'string' }, node_id: { type: 'string' } },
      },
      Response: {
        type: 'object',
        properties: {
          account: { type: 'string' },
          sender: { type: 'string' },
          message_id: { type: 'string' },
          message_type: { type: 'string', enum: ['response', 'eof'] },
          payload: {},
          code: { type: 'integer' },
          in_response_to: { type: 'string' },
          serial: { type: 'integer' },
        },
      },
    },
  },
} as const;

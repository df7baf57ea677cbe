import Agent from 'undici/lib/dispatcher/agent.js';
import buildConnector from 'undici/lib/core/connect.js';
import { fetch } from 'undici/lib/web/fetch/index.js';
console.log(Agent, buildConnector, fetch);

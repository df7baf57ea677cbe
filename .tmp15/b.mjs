import { Agent, buildConnector, fetch } from 'undici';
console.log(Agent, buildConnector, fetch);

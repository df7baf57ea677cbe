// The 1,000-card suite (thousand-cards.ts) on Radicale.
import { startRadicaleBook } from '../../support/stack.ts';
import { thousandCardSuite } from './thousand-cards.ts';

thousandCardSuite('Radicale', () => startRadicaleBook({ cards: 1000 }));

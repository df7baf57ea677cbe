// The 1,000-card suite (thousand-cards.ts) on the Google emulator.
import { startEmulatorBook } from '../../support/stack.ts';
import { thousandCardSuite } from './thousand-cards.ts';

thousandCardSuite('Google emulator', () => startEmulatorBook({ cards: 1000 }));

/** Ends a subscription (to events, to a service's output, to signals). */
export type Unsubscribe = () => void;

import { createRoot } from 'react-dom/client';
import { App } from './app.js';
import { live } from './live.js';
import './styles.css';

live.start();
const el = document.getElementById('root');
if (el) createRoot(el).render(<App />);

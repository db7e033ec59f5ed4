
/**
 * Java peer of guard's counted release: Cleaner.register + Cleanable.clean (the explicit
 * release that disarms the deferred one), per object. Prints JSON lines like the Python peers.
 */
public class CleanerPeer {
    static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create();
    static volatile long sink;

    static double round(int n) {
        Runnable action = () -> sink++;
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            Object resource = new Object();
            java.lang.ref.Cleaner.Cleanable c = CLEANER.register(resource, action);
            c.clean();
        }
        return (System.nanoTime() - start) / (double) n;
    }

    public static void main(String[] args) {
        int n = 1_000_000;
        for (int i = 0; i < 5; i++) round(n); // JIT warm-up
        double[] r = new double[9];
        for (int i = 0; i < r.length; i++) r[i] = round(n);
        java.util.Arrays.sort(r);
        System.out.printf("{\"group\": \"peers/java_cleaner\", \"name\": \"register_and_clean\", \"ns\": %.2f}%n", r[r.length / 2]);
    }
}

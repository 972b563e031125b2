// A lower bound for `bin/elasticsearch-keystore add` on a format-6 keystore, for the
// side-by-side figure in docs/performance.md: a JVM start plus the two key derivations an add
// costs (the file's salt to decrypt, a fresh salt to encrypt), done with the JDK's own
// PBKDF2WithHmacSHA512 (what Elasticsearch's KeyStoreWrapper uses), then one AES-128-GCM
// encryption. The real CLI also loads Elasticsearch's and Lucene's classes, so it is slower.
import javax.crypto.Cipher;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;
import java.security.SecureRandom;

public class KeystoreAddEstimate {
    public static void main(String[] args) throws Exception {
        SecureRandom random = new SecureRandom();
        SecretKeyFactory factory = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA512");
        byte[] key = null;
        byte[] salt = new byte[64];
        for (int i = 0; i < 2; i++) {
            random.nextBytes(salt);
            PBEKeySpec spec = new PBEKeySpec(new char[0], salt, 210_000, 128);
            key = factory.generateSecret(spec).getEncoded();
        }
        byte[] iv = new byte[12];
        random.nextBytes(iv);
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
        cipher.updateAAD(salt);
        System.out.println(cipher.doFinal(new byte[256]).length);
    }
}
